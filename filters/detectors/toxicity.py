"""Offline toxicity detector: a bundled fastText classifier, calibrated, with per-category thresholds.

The model (`filters/models/toxicity.ftz`) is trained by `scripts/train_toxicity.py`
on MIT / public-domain data only (Davidson et al. tweets, ToxiGen seed sentences,
Project Gutenberg and Shakespeare prose); see `filters/models/MODEL_CARD.md`.
It is one-vs-all over the labels `hate` (hate speech toward a group),
`offensive` (vulgar / offensive language) and `clean`; the detector reports,
per text, calibrated probabilities:

- `hate`: P(hate speech), Platt-calibrated on the dev split;
- `profanity`: P(offensive or vulgar language), from the `offensive` label;
- `toxicity`: P(hate or offensive), from 1 - P(clean).

Normalization (`normalize`) is shared by training and inference and removes
what only tweets have (URLs, @mentions, "RT", HTML entities, emoji, hashtag
signs, punctuation runs), so the model cannot learn "tweet style = toxic": it
lower-cases, maps punctuation to spaces and keeps words. It works on UTF-8
bytes with one `bytes.translate` table (ASCII) plus one `str.translate` table
for non-ASCII punctuation/emoji, because per-character regexes were the main
cost of scoring.

Toxicity is local (one slur in a 4 KB page), and a bag of words averaged over
a long page dilutes it, so long texts are scored in windows of at most
`window_chars` bytes cut at a line break (else a space) and each category takes
the maximum over windows. All windows of a batch go to one fastText `predict`
call. Thresholds (`toxicity_thresholds.json`) are chosen for this max-over-
windows score on long clean documents (see the training script). Optionally
`profanity` becomes max(ours, alt-profanity-check) (slow; off by default).
"""

from __future__ import annotations

import html
import json
import re
import threading
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from filters.detectors.base import DetectorResult

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL = MODELS_DIR / "toxicity.ftz"
DEFAULT_CALIBRATION = MODELS_DIR / "toxicity_calibration.json"
CATEGORIES = ("hate", "profanity", "toxicity")
DEFAULT_WINDOW = 300

_URL = re.compile(r"https?://\S{1,2000}|www\.\S{1,2000}")
_MENTION = re.compile(r"@\w{1,50}")
_RT = re.compile(rb"(?<![a-z0-9])rt(?![a-z0-9])")
_ENTITY = re.compile(r"&#?\w{1,32};")


def _ascii_table() -> bytes:
    """Bytes -> bytes: A-Z lower-cased, ASCII punctuation and control characters to space, line
    breaks kept (windows are cut at them); bytes >= 0x80 (UTF-8 sequences) unchanged."""
    table = bytearray(range(256))
    for b in range(128):
        c = chr(b)
        if c.isupper():
            table[b] = ord(c.lower())
        elif not c.isalnum() and c != "\n":
            table[b] = ord(" ")
    return bytes(table)


# Non-ASCII punctuation, symbols and emoji as UTF-8 byte sequences -> space (one bytes regex, which
# is much faster than str.translate on non-ASCII text): Latin-1 punctuation (U+0080-U+00BF), general
# punctuation and symbols (U+2000-U+2BFF: quotes, dashes, zero-width and bidi marks, arrows, dingbats),
# CJK punctuation (U+3000-U+303F), variation selectors, BOM, full-width punctuation, emoji
# (U+1F000-U+1FAFF), and the "?" that lone surrogates were encoded to. Curly apostrophes are deleted
# first, like "'". U+0085, U+2028 and U+2029 are line breaks.
_UNICODE_LINES = re.compile(rb"\xc2\x85|\xe2\x80[\xa8\xa9]")
_APOSTROPHES = re.compile(rb"\xe2\x80[\x98\x99]|\xca\xbc")
_UNICODE_PUNCT = re.compile(
    rb"\xc2[\x80-\xbf]|[\xe2][\x80-\xaf][\x80-\xbf]|\xe3\x80[\x80-\xbf]|\xef\xb8[\x80-\x8f]"
    rb"|\xef\xbb\xbf|\xef\xbc[\x81-\x8f]|\xf0\x9f[\x80-\xab][\x80-\xbf]"
)

_ASCII = _ascii_table()
_DELETE = b"'"


def normalize(text: str) -> bytes:
    """Lower-cased UTF-8 words separated by spaces, line breaks kept; tweet artefacts removed.

    Drops: HTML entities (after unescaping: &amp; -> "&" -> space, &#128514; -> emoji -> space),
    URLs, @mentions, the retweet marker "rt", emoji, punctuation (apostrophes are deleted so
    "don't" -> "dont"). Deterministic and linear in the text length.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if "&" in text and _ENTITY.search(text):
        text = html.unescape(text)
    if "http" in text or "www." in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    if text.isascii():
        data = text.encode("ascii")
    else:
        data = text.lower().encode("utf-8", "replace")
        data = _UNICODE_LINES.sub(b"\n", data)
        data = _UNICODE_PUNCT.sub(b" ", _APOSTROPHES.sub(b"", data))
    data = data.translate(_ASCII, _DELETE)
    if data.startswith(b"rt") or b" rt" in data or b"\nrt" in data:
        data = _RT.sub(b" ", data)
    return data


def preprocess(text: str) -> str:
    """Normalization shared by training and inference, as one line (what fastText reads)."""
    return " ".join(normalize(text).decode("utf-8", "ignore").split())


def window_bytes(data: bytes, window_chars: int) -> list[bytes]:
    """`data` cut into pieces of at most `window_chars` bytes, each cut at the last line break in
    its second half, else at the last space, else hard; whitespace-only pieces dropped."""
    out = []
    n = len(data)
    start = 0
    half = max(1, window_chars // 2)
    while start < n:
        end = start + window_chars
        if end >= n:
            end = n
        else:
            cut = data.rfind(b"\n", start + half, end)
            if cut < 0:
                cut = data.rfind(b" ", start + 1, end)
            if cut > start:
                end = cut
        piece = data[start:end]
        if not piece.isspace() and piece:
            out.append(piece)
        start = end
    return out


def windows(text: str, window_chars: int) -> list[str]:
    """The one-line windows the model scores for `text` (normalized)."""
    pieces = window_bytes(normalize(text), window_chars)
    return [p.replace(b"\n", b" ").decode("utf-8", "ignore").strip() for p in pieces]


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
        window_chars: int = DEFAULT_WINDOW,
        profanity_check: bool = False,
    ):
        self.model_path = str(model_path or DEFAULT_MODEL)
        self.calibration_path = str(calibration_path or DEFAULT_CALIBRATION)
        self.window_chars = int(window_chars)
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
                labels = [lab.removeprefix("__label__") for lab in self._model.get_labels()]
                self._label_index = {f"__label__{lab}": i for i, lab in enumerate(labels)}
                self._labels = labels
        return self._model

    def _calibration(self) -> dict[str, Any]:
        if not self._calib:
            self._calib = json.loads(Path(self.calibration_path).read_text())
        return self._calib

    def raw_scores(self, pieces: list[str]) -> dict[str, np.ndarray]:
        """Uncalibrated one-vs-all probabilities per fastText label for one-line pieces (no "\\n").

        Calls the fastText binding's batch predict directly and scatters its flat output with
        numpy: the per-row Python loop of `model.predict` cost more than the C++ prediction."""
        model = self._load()
        out = np.zeros((len(self._labels), len(pieces)))
        if pieces:
            all_labels, all_probs = model.f.multilinePredict([p + "\n" for p in pieces], -1, 0.0, "replace")
            lengths = np.fromiter(map(len, all_labels), dtype=np.int64, count=len(pieces))
            rows = np.repeat(np.arange(len(pieces)), lengths)
            index = self._label_index
            cols = np.fromiter(
                (index[lab] for labs in all_labels for lab in labs), dtype=np.int64, count=len(rows)
            )
            probs = np.fromiter(chain.from_iterable(all_probs), dtype=np.float64, count=len(rows))
            out[cols, rows] = probs
        return {lab: out[j] for j, lab in enumerate(self._labels)}

    def score_pieces(self, pieces: list[str]) -> dict[str, np.ndarray]:
        """Calibrated category probabilities for one-line pieces."""
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
            for w in windows(text, self.window_chars):
                if w:
                    pieces.append(w)
                    owners.append(i)
        best = {c: np.zeros(len(texts)) for c in CATEGORIES}  # no words: nothing toxic found
        if pieces:
            scores = self.score_pieces(pieces)
            idx = np.asarray(owners, dtype=np.int64)
            for c in CATEGORIES:
                np.maximum.at(best[c], idx, scores[c])
        if self.profanity_check:
            best["profanity"] = np.maximum(best["profanity"], _profanity_check_max(texts, self.window_chars))
        return [DetectorResult(scores={c: float(best[c][i]) for c in CATEGORIES}) for i in range(len(texts))]


def _profanity_check_max(texts: list[str], window_chars: int) -> np.ndarray:
    """alt-profanity-check's probability, maximum over raw-text windows (its own model, from its wheel)."""
    from profanity_check import predict_prob

    owners, pieces = [], []
    for i, text in enumerate(texts):
        raw = (text if isinstance(text, str) else "").encode("utf-8", "replace")
        for w in window_bytes(raw, window_chars):
            pieces.append(w.decode("utf-8", "ignore"))
            owners.append(i)
    best = np.zeros(len(texts))
    if pieces:
        np.maximum.at(best, np.asarray(owners), predict_prob(pieces))
    return best
