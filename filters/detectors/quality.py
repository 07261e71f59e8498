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
  Documents that certainly exceed Gopher's 100,000-word limit (`surely_too_long`)
  are decided without tokenizing and score 0.0.
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
MAX_DOC_WORDS = 100_000  # datatrove GopherQualityFilter's max_doc_words
_SURROGATES = re.compile("[\ud800-\udfff]")
_ALNUM = re.compile(r"[^\W_]")


def surely_too_long(text: str, limit: int = MAX_DOC_WORDS) -> bool:
    """True when `text` certainly has more than `limit` non-symbol words for datatrove's Gopher
    quality filter, decided without spaCy: spaCy splits at every `str.isspace` character (as
    `str.split()` does) and never joins text across one, so each whitespace-separated piece holding
    a letter or digit yields at least one non-symbol word. A lower
    bound, so False only means "tokenize to know". Cheap: only texts over 2 * limit chars are
    looked at, and counting stops at limit + 1."""
    if len(text) <= 2 * limit:
        return False
    count = 0
    for piece in text.split():
        if _ALNUM.search(piece):
            count += 1
            if count > limit:
                return True
    return False


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
        # A document over Gopher's word limit fails the first check whatever the rest says; deciding
        # that without spaCy keeps multi-megabyte garbage (random bytes, mixed scripts) linear and fast.
        long_doc = [self.checks[0] == "gopher_quality" and surely_too_long(t) for t in clean]
        need_words = any(c not in _WORDLESS for c in self.checks)
        to_tokenize = ["" if skip else t for t, skip in zip(clean, long_doc, strict=True)]
        all_words = self.tokenizer.words_batch(to_tokenize) if need_words else [[] for _ in clean]
        out = []
        for text, words, skip in zip(clean, all_words, long_doc, strict=True):
            if skip:
                out.append(
                    DetectorResult(
                        scores={"low_quality": 1.0, "quality": 0.0},
                        labels={"quality_reason": "gopher_quality:gopher_long_doc"},
                    )
                )
                continue
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
