"""Offline toxicity detector: a bundled fastText classifier, calibrated, with per-category thresholds.

The model (`filters/models/toxicity.ftz`) is trained by `scripts/train_toxicity.py`
on MIT-licensed data only (Davidson et al. tweets, ToxiGen seed sentences);
see `filters/models/MODEL_CARD.md`. It is one-vs-all over the labels
`hate` (hate speech toward a group), `offensive` (vulgar / offensive language)
and `clean`; the detector reports, per text, calibrated probabilities:

- `hate`: P(hate speech), Platt-calibrated on the dev split;
- `profanity`: P(offensive or vulgar language), from the `offensive` label;
- `toxicity`: P(hate or offensive), from 1 - P(clean).

Toxicity is local (one slur in a 4 KB page), and a bag-of-ngrams averaged over
a long page dilutes it, so long texts are scored in windows (lines, cut into
pieces of at most `window_chars` characters at whitespace) and each category
takes the maximum over windows. All windows of a batch go to one fastText
`predict` call. Optionally `profanity` becomes max(ours, alt-profanity-check).
"""

from __future__ import annotations

import html
import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from filters.detectors.base import DetectorResult

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL = MODELS_DIR / "toxicity.ftz"
DEFAULT_CALIBRATION = MODELS_DIR / "toxicity_calibration.json"
CATEGORIES = ("hate", "profanity", "toxicity")

_SURROGATES = re.compile("[\ud800-\udfff]")
_URL = re.compile(r"https?://\S{1,2000}|www\.\S{1,2000}")
_MENTION = re.compile(r"@\w{1,50}")
_RT = re.compile(r"\brt\b")
_PUNCT = re.compile(r"([^\w\s'])")
_SPACES = re.compile(r"\s+")
_BLANKS = re.compile(r"[^\S\r\n\v\f\x85\u2028\u2029]+")
_LINES = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")


def normalize(text: str) -> str:
    """Lower-case, unescape HTML, drop URLs, @mentions and "RT", split punctuation off words;
    line breaks are kept (windows follow lines), other whitespace runs become one space."""
    if "&" in text:
        text = html.unescape(text)
    text = _SURROGATES.sub(" ", text).lower()
    if "http" in text or "www." in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    text = _RT.sub(" ", text)
    text = _PUNCT.sub(r" \1 ", text)
    return _BLANKS.sub(" ", text)


def preprocess(text: str) -> str:
    """Normalization shared by training and inference, as one line (what fastText reads)."""
    return _SPACES.sub(" ", normalize(text)).strip()


def windows(text: str, window_chars: int) -> list[str]:
    """Lines of `text`, each cut at whitespace into pieces of at most `window_chars` characters
    (surrounding whitespace stripped, empty pieces dropped)."""
    out = []
    for line in _LINES.split(text):
        line = line.strip()
        while len(line) > window_chars:
            cut = line.rfind(" ", 0, window_chars)
            if cut <= 0:
                cut = window_chars
            out.append(line[:cut])
            line = line[cut:].lstrip()
        if line:
            out.append(line)
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def calibrate(raw: np.ndarray, a: float, b: float) -> np.ndarray:
    """Platt scaling on the logit of the raw fastText probability."""
    return 1.0 / (1.0 + np.exp(-(a * _logit(raw) + b)))


class ToxicityDetector:
    """Bundled fastText toxicity model (no network); picklable, lazy model load."""

    name = "toxicity"

    def __init__(
        self,
        model_path: str | None = None,
        calibration_path: str | None = None,
        window_chars: int = 300,
        profanity_check: bool = False,
    ):
        self.model_path = str(model_path or DEFAULT_MODEL)
        self.calibration_path = str(calibration_path or DEFAULT_CALIBRATION)
        self.window_chars = window_chars
        self.profanity_check = profanity_check
        self._model: Any = None
        self._calib: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "calibration_path": self.calibration_path,
            "window_chars": self.window_chars,
            "profanity_check": self.profanity_check,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                import fasttext

                self._model = fasttext.load_model(self.model_path)
        return self._model

    def _calibration(self) -> dict[str, Any]:
        if not self._calib:
            self._calib = json.loads(Path(self.calibration_path).read_text())
        return self._calib

    def raw_scores(self, pieces: list[str]) -> dict[str, np.ndarray]:
        """Uncalibrated one-vs-all probabilities per fastText label for preprocessed one-line pieces."""
        model = self._load()
        labels = model.get_labels()
        out = {lab.removeprefix("__label__"): np.zeros(len(pieces)) for lab in labels}
        if not pieces:
            return out
        pred_labels, pred_probs = model.predict(pieces, k=-1, threshold=0.0)
        for i, (labs, probs) in enumerate(zip(pred_labels, pred_probs, strict=False)):
            for lab, p in zip(labs, probs, strict=False):
                out[lab.removeprefix("__label__")][i] = p
        return out

    def score_pieces(self, pieces: list[str]) -> dict[str, np.ndarray]:
        """Calibrated category probabilities for preprocessed one-line pieces."""
        raw = self.raw_scores(pieces)
        cal = self._calibration()["platt"]
        sources = {"hate": raw["hate"], "profanity": raw["offensive"], "toxicity": 1.0 - raw["clean"]}
        return {c: calibrate(sources[c], cal[c]["a"], cal[c]["b"]) for c in CATEGORIES}

    def detect_batch(self, texts: list[str]) -> list[DetectorResult]:
        self._load()
        self._calibration()
        owners: list[int] = []
        pieces: list[str] = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                text = "" if text is None else str(text)
            for w in windows(normalize(text), self.window_chars):
                pieces.append(w)
                owners.append(i)
        scores = self.score_pieces(pieces)
        best = {c: np.zeros(len(texts)) for c in CATEGORIES}
        idx = np.asarray(owners, dtype=np.int64)
        for c in CATEGORIES:
            if len(idx):
                np.maximum.at(best[c], idx, scores[c])
        if self.profanity_check:
            best["profanity"] = np.maximum(best["profanity"], _profanity_check_max(texts, self.window_chars))
        return [DetectorResult(scores={c: float(best[c][i]) for c in CATEGORIES}) for i in range(len(texts))]


def _profanity_check_max(texts: list[str], window_chars: int) -> np.ndarray:
    """alt-profanity-check's probability, maximum over the same windows (its own model, from its wheel)."""
    from profanity_check import predict_prob

    owners, pieces = [], []
    for i, text in enumerate(texts):
        for w in windows(_SURROGATES.sub(" ", text if isinstance(text, str) else ""), window_chars):
            pieces.append(w)
            owners.append(i)
    best = np.zeros(len(texts))
    if pieces:
        np.maximum.at(best, np.asarray(owners), predict_prob(pieces))
    return best
