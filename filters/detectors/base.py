"""The contract every detector implements, so the policy can chain them.

A detector looks at a batch of texts and returns, per text, the scores it
computed (keyed by a name the policy refers to), optional labels (for example
the language code) and optional character spans on the raw text. Detectors are
pure functions of the text: the same text always gets the same result,
whether it comes through `check` or `check_batch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Span:
    """A half-open character range [start, end) of the raw text, with what it is."""

    category: str
    start: int
    end: int
    label: str = ""  # finer type, e.g. "EMAIL" for a pii span, or the matched term's list


@dataclass
class DetectorResult:
    """What one detector found in one text."""

    scores: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    spans: list[Span] = field(default_factory=list)


@runtime_checkable
class Detector(Protocol):
    """A named, batched scorer."""

    name: str

    def detect_batch(self, texts: list[str]) -> list[DetectorResult]:
        """One result per text, in order. Must never raise on odd input (empty, huge, binary)."""
        ...
