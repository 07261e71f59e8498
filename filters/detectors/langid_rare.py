"""Third opinion for three languages neither lid.176 nor py3langid can name: Maori (mi), Tswana (tn), Tsonga (ts).

Both models read these languages as their neighbours (Maori as Kikuyu or Latgalian, Tswana as Northern
Sotho or Sotho, Tsonga as Xhosa or Shona), so no pooling of the two can recover them. A small
multinomial naive Bayes over hashed character 1–4-grams (our own, `scripts/train_langid_rare.py`) is asked
only when lid.176 was unsure and the pooled answer is one of those neighbours (`triggers`). It replaces
the answer only when it names mi, tn or ts with a posterior of at least `threshold`. Its other classes
(the neighbours' own languages and one pooled "other") are there so that it can say "not one of the
three".

The model (`filters/models/langid_rare.npz`, counts per class and bucket, read with `allow_pickle=False`)
is checked against `MODEL_SHA256` before use, and it fails closed: a changed file is an error, not a
silent fallback. Trained on the even rows of lingua's test sentences and word pairs (Leipzig corpora
text, CC BY; see filters/data/ATTRIBUTION.md); benchmarks/eval_langid.py reports the odd rows.
"""

from __future__ import annotations

import io
import re
import threading
import zlib
from pathlib import Path

import numpy as np

from kit.files import PinnedFileError, read_pinned

MODEL_PATH = Path(__file__).resolve().parents[1] / "models" / "langid_rare.npz"
MODEL_SHA256 = "724005376e22e7e4a53c784f18ec0cc03f33d4c63ec9dde65bc49c9fe527f1e2"
BUCKETS = 1 << 16
NGRAMS = (1, 2, 3, 4)
MAX_CHARS = 300  # as py3langid: the answer on a few sentences is as good as on the page
_NOT_LETTERS = re.compile(r"[\W\d_]+")


def features(text: str) -> np.ndarray:
    """Counts of hashed character 1–4-grams of the lower-cased letters (words padded with spaces)."""
    clean = " " + _NOT_LETTERS.sub(" ", text[:MAX_CHARS].lower()).strip() + " "
    counts = np.zeros(BUCKETS, dtype=np.float32)
    if clean.strip():
        for n in NGRAMS:
            for i in range(len(clean) - n + 1):
                counts[zlib.crc32(clean[i : i + n].encode("utf-8")) & (BUCKETS - 1)] += 1.0
    return counts


class RareLanguages:
    """The naive Bayes third opinion; loaded lazily, picklable (state is nothing)."""

    def __init__(self) -> None:
        self._model: dict | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    @property
    def model(self) -> dict:
        with self._lock:
            if self._model is None:
                self._model = load_model(MODEL_PATH, MODEL_SHA256)
        return self._model

    @property
    def triggers(self) -> frozenset[str]:
        return self.model["triggers"]

    def relabel(self, label: str, text: str) -> tuple[str, float] | None:
        """(mi|tn|ts, posterior) when the pooled `label` is a neighbour and the model is sure enough."""
        m = self.model
        if label not in m["triggers"]:
            return None
        return decide(features(text), m["log_probs"], m["classes"], m["targets"], m["threshold"])


def decide(
    x: np.ndarray, log_probs: np.ndarray, classes: list[str], targets: frozenset[str], threshold: float
) -> tuple[str, float] | None:
    """(target, posterior) when the naive Bayes posterior's best class is a target at `threshold` or
    more; None otherwise (also for a text without letters). The training script decides the same way."""
    if not x.any():
        return None
    logits = log_probs @ x
    post = np.exp(logits - logits.max())
    post /= post.sum()
    best = int(np.argmax(post))
    if classes[best] in targets and post[best] >= threshold:
        return classes[best], float(post[best])
    return None


def log_probs(counts: np.ndarray, alpha: float) -> np.ndarray:
    """Smoothed log θ per class and bucket from counts [classes, BUCKETS]."""
    c = counts.astype(np.float64) + alpha
    return (np.log(c) - np.log(c.sum(axis=1, keepdims=True))).astype(np.float32)


def load_model(path: Path, sha256: str) -> dict:
    """The model's arrays, after checking the file's hash (fail closed)."""
    try:
        data = read_pinned(path, sha256, "rare-language model")
    except PinnedFileError as e:
        raise ValueError(f"{path}: sha256 {e.actual} is not the pinned {sha256}; reinstall winnow") from None
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        classes = [str(c) for c in z["classes"]]
        alpha, threshold = (float(v) for v in z["params"])
        return {
            "classes": classes,
            "targets": frozenset(str(c) for c in z["targets"]),
            "triggers": frozenset(str(c) for c in z["triggers"]),
            "threshold": threshold,
            "log_probs": log_probs(z["counts"], alpha),
        }
