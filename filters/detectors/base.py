"""The contract every detector implements, so the policy can chain them.

A detector looks at a batch of texts and returns, per text, the scores it
computed (keyed by a name the policy refers to), optional labels (for example
the language code) and optional character spans on the raw text. Detectors are
pure functions of the text: the same text always gets the same result,
whether it comes through `check` or `check_batch`.

Also here, for the harm classifier's two tiers (`harm` and `harm_tiers`, which `harm` loads):
`HarmModelError` and `read_verified`, the one read of their pinned files, so that neither tier
imports the other for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from kit.files import PinnedFileError, read_pinned


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


class HarmModelError(RuntimeError):
    """The harm model files are missing, altered or inconsistent: refuse to score (fail closed)."""


def read_verified(path: Path, expected: str, what: str) -> bytes:
    """A harm model file's bytes, only if their sha256 is the pinned one (`kit.files.read_pinned`)."""
    try:
        return read_pinned(path, expected, what)
    except OSError as e:
        raise HarmModelError(f"harm model: cannot read {what} {path}: {e}") from e
    except PinnedFileError as e:
        raise HarmModelError(f"harm model: {e}") from e
