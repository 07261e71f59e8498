"""Heuristic quality detector: Gopher quality + repetition, C4, FineWeb.

Decisions and reasons are datatrove's (default parameters); see
`quality_rules` for the rules and `quality_tokenizer` for why this is fast.

Output per text:
- `scores["low_quality"]`: 1.0 if any enabled check fails, else 0.0.
- `scores["quality"]`: the fraction of all rules of the enabled checks that
  pass, in [0, 1], higher is better. Every rule is evaluated (no early exit),
  so a document failing one of the 31 rules of the four checks scores ≈ 0.97
  and a document failing many scores low; it grades documents, the binary
  decision is `low_quality`.
- `labels["quality_reason"]`: "<check>:<datatrove reason>" of the first
  failing rule, checks in the order given (e.g. "gopher_quality:gopher_short_doc",
  "c4:too_few_sentences", "fineweb:line_punct_ratio"), or "" when kept.

Differences from running datatrove's filters in a pipeline: each check scores
the original text (datatrove's C4 filter also rewrites the text, dropping the
lines it rejects, before later filters see it; a detector never rewrites).
Text is sanitized first: lone surrogates become U+FFFD (spaCy cannot encode
them), which datatrove would crash on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from datatrove.utils.word_tokenizers import load_tokenizer_assignments

from filters.detectors import quality_rules as qr
from filters.detectors.base import DetectorResult
from filters.detectors.quality_tokenizer import ChunkTokenizer

CHECKS = ("gopher_quality", "gopher_repetition", "c4", "fineweb")
_WORDLESS = {"c4"}
HUGE_WORDS = 200_000
_SURROGATES = re.compile("[\ud800-\udfff]")


def _sanitize(text: object) -> str:
    """A str with lone surrogates replaced by U+FFFD (they cannot be encoded for spaCy or fastText)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return _SURROGATES.sub("\ufffd", text)


def _spacy_code(language: str) -> str:
    """The spaCy language datatrove uses for `language`; only spaCy-tokenized languages are supported."""
    factory = load_tokenizer_assignments().get(language)
    if factory is None:
        raise ValueError(f"quality: no datatrove word tokenizer for language {language!r}")
    class_name, code = factory.args
    if class_name != "SpaCyTokenizer":
        raise ValueError(f"quality: language {language!r} uses datatrove's {class_name}, not supported here")
    return code


class QualityDetector:
    """Batched datatrove-equivalent quality heuristics (picklable, spaCy loaded lazily)."""

    name = "quality"

    def __init__(
        self,
        checks: list[str] | None = None,
        language: str = "en",
        **options: Any,
    ):
        checks = list(CHECKS) if checks is None else list(checks)
        unknown = [c for c in checks if c not in CHECKS]
        if unknown or not checks:
            raise ValueError(f"quality: unknown or no checks {unknown or checks}; known: {list(CHECKS)}")
        if options:
            raise ValueError(
                f"quality: unsupported options {sorted(options)}; only datatrove's default thresholds are implemented"
            )
        self.checks = checks
        self.language = language
        self.tokenizer = ChunkTokenizer(_spacy_code(language))

    def _rules(self, text: str, words: list[str]) -> list[tuple[str, list[qr.Rule]]]:
        """Rules per check; for huge documents (> HUGE_WORDS words) stop after the first failing check,
        since the reason is then settled (keeps a 10 MB document to seconds; `quality` then counts
        only the rules evaluated)."""
        runners: dict[str, Callable[[], list[qr.Rule]]] = {
            "gopher_quality": lambda: qr.gopher_quality(text, words),
            "gopher_repetition": lambda: qr.gopher_repetition(text, words),
            "c4": lambda: qr.c4(text, self.tokenizer),
            "fineweb": lambda: qr.fineweb(text, words),
        }
        out = []
        for check in self.checks:
            rules = runners[check]()
            out.append((check, rules))
            if len(words) > HUGE_WORDS and not all(ok for _, ok in rules):
                break
        return out

    def detect_batch(self, texts: list[str]) -> list[DetectorResult]:
        clean = [_sanitize(t) for t in texts]
        need_words = any(c not in _WORDLESS for c in self.checks)
        all_words = self.tokenizer.words_batch(clean) if need_words else [[] for _ in clean]
        out = []
        for text, words in zip(clean, all_words, strict=False):
            reason = ""
            passed = total = 0
            for check, rules in self._rules(text, words):
                for rule, ok in rules:
                    total += 1
                    passed += ok
                    if not ok and not reason:
                        reason = f"{check}:{rule}"
            out.append(
                DetectorResult(
                    scores={"low_quality": 1.0 if reason else 0.0, "quality": passed / total},
                    labels={"quality_reason": reason},
                )
            )
        return out
