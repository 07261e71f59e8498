"""Second opinion for lid.176: py3langid (BSD-3-Clause, 140 languages, model inside its wheel).

lid.176 stays the first and usually only model. When its top probability is below
`DEFAULT_UNSURE` (short or mixed text), py3langid scores the same text and the two
distributions are pooled geometrically (a weighted product of experts, normalised):

    fused(l) ~ p_lid(l) ** w * p_py(l) ** (1 - w)

A language one model does not know borrows the other model's probability, so neither
model can veto a language outside its own list: lid.176's long tail (war, ceb, ...) keeps
lid.176's verdict, and py3langid's extra languages (zu, xh, sn, st, lg, ...) keep
py3langid's. When both agree on the label, the score is the larger of the fused and
lid.176 probabilities, so a second model that agrees never lowers the score the policy's
`min_score` reads; when py3langid finds nothing to go on (emoji, digits) lid.176's answer
stands. `w`, the unsure threshold and those rules were chosen on the even
rows of the lingua sentences and word pairs (benchmarks/eval_langid.py reports the odd ones).

py3langid loads its model from `data/model.npz.xz` with `allow_pickle=False` (no pickle).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

DEFAULT_UNSURE = 0.9  # lid.176 top probability below this -> ask py3langid
DEFAULT_WEIGHT = 0.2  # weight of lid.176's log-probability in the pool
DEFAULT_SECOND_CHARS = 300  # py3langid reads this many characters (its cost grows with length)
_EPS = 1e-4  # floor for a probability a model returned as (near) zero
# py3langid's best language below this: it found no usable features (emoji, digits, symbols) and
# its near-uniform spread would only favour labels lid.176 alone can name; keep lid.176's answer.
MIN_INFORMATIVE = 0.05
_NOT_LANGUAGES = frozenset({"zxx"})  # py3langid's "no linguistic content" class
# py3langid's codes for languages lid.176 names under another code: the detector writes one code per
# language, lid.176's (a policy listing "gn" keeps Guarani whichever model named it).
SECOND_TO_LID = {"gug": "gn"}


def fuse(
    lid: Mapping[str, float],
    second: Mapping[str, float],
    lid_labels: frozenset[str],
    second_labels: frozenset[str],
    weight: float = DEFAULT_WEIGHT,
) -> tuple[str, float]:
    """Pool two language distributions; return (label, score).

    `lid`/`second`: probability per label (labels missing count as ~0). `*_labels`: every
    label each model can name, so a label only one model knows borrows that model's value.
    Ties break on the label, so the answer is deterministic. An uninformative `second` (best
    language under `MIN_INFORMATIVE`) leaves lid.176's answer as it is.
    """
    lid_top = min(lid.items(), key=lambda kv: (-kv[1], kv[0]), default=("unknown", 0.0))
    if max((p for label, p in second.items() if label not in _NOT_LANGUAGES), default=0.0) < MIN_INFORMATIVE:
        return lid_top[0], min(1.0, max(0.0, lid_top[1]))
    logits: dict[str, float] = {}
    for label in (lid_labels | second_labels) - _NOT_LANGUAGES:
        p1 = lid.get(label, 0.0)
        p2 = second.get(label, 0.0)
        if label not in second_labels:
            p2 = p1
        elif label not in lid_labels:
            p1 = p2
        logits[label] = weight * math.log(p1 + _EPS) + (1.0 - weight) * math.log(p2 + _EPS)
    top = max(logits.values())
    norm = sum(math.exp(v - top) for v in logits.values())
    best = min(label for label, v in logits.items() if v == top)
    fused = 1.0 / norm
    score = max(fused, lid_top[1]) if lid_top[0] == best else fused
    return best, min(1.0, max(0.0, score))


class SecondOpinion:
    """py3langid with normalised probabilities, loaded lazily (picklable: state is the settings)."""

    def __init__(self, max_chars: int = DEFAULT_SECOND_CHARS):
        self.max_chars = max_chars
        self._ident: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"max_chars": self.max_chars}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    @property
    def ident(self) -> Any:
        with self._lock:
            if self._ident is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                self._ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return self._ident

    @property
    def labels(self) -> frozenset[str]:
        """Every label py3langid can return, in lid.176's codes."""
        return frozenset(SECOND_TO_LID.get(label, label) for label in self.ident.labels)

    def rank(self, text: str) -> dict[str, float]:
        """Probability per label (lid.176's codes) for the first `max_chars` characters."""
        return {
            SECOND_TO_LID.get(label, label): float(p) for label, p in self.ident.rank(text[: self.max_chars])
        }
