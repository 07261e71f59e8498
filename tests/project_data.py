"""The project's own written data sets (data/harm_hard_negatives, data/harm_web_negatives,
data/harm_short_messages), read strictly, the words none may contain, and a stand-in judge for counting tests.

Each is JSON lines with a fixed set of string fields; a missing file, a line that is not an object, a
missing or extra key or a non-string value fails the calling test, never skips it."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

# Slurs and explicit terms that must never appear; stored in rot13 so the repo does not spell them out.
DENY_ROT13 = (
    "avttre",
    "avttn",
    "snttbg",
    "xvxr",
    "fcvp",
    "genaal",
    "ergneq",
    "ergneqrq",
    "phag",
    "oybjwbo",
    "unaqwbo",
    "phzfubg",
    "qvyqb",
    "tnatont",
)
DENY = frozenset(codecs.decode(w, "rot13") for w in DENY_ROT13)


def read_rows(path: Path, keys: set[str]) -> list[dict[str, str]]:
    """Every line of `path` as a dict with exactly `keys`, all string values."""
    assert path.is_file(), f"missing {path}"
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        assert isinstance(row, dict) and set(row) == keys, f"{path.name} line {n}: keys {sorted(row)}"
        assert all(isinstance(row[k], str) for k in keys), f"{path.name} line {n}: non-string value"
        out.append(row)
    return out


class OneCategoryJudge:
    """A stand-in for `benchmarks.eval_harm.Judge`: `category` fires on the texts `fires` accepts, no other."""

    def __init__(self, category: str, fires: Callable[[str], bool]) -> None:
        self.category, self.fires = category, fires

    def judge(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        from filters.detectors.harm import CATEGORIES

        fired = np.zeros((len(texts), len(CATEGORIES)), dtype=bool)
        fired[:, CATEGORIES.index(self.category)] = [self.fires(t) for t in texts]
        return fired.astype(float), fired
