"""The project's own harm hard-negative set: well-formed, varied, and free of slurs.

The set (data/harm_hard_negatives/hard_negatives.jsonl) is the evaluation's probe of over-blocking
(benchmarks.eval_harm, `project_hard_negatives`), so a broken line, a duplicated text or a missing kind
would silently change what it measures.
No model is loaded; these checks read the file only."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.project_data import DENY, read_rows

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "harm_hard_negatives" / "hard_negatives.jsonl"
KEYS = {"id", "kind", "text"}
KINDS = (
    "tech_words",
    "figurative",
    "games_sports",
    "cooking_home",
    "medical",
    "mental_health_support",
    "news_violence",
    "history",
    "counter_speech",
    "definitions",
    "fiction",
    "sex_education",
    "child_safety",
    "law_crime",
    "security_defensive",
    "everyday_strong_words",
)
MIN_PER_KIND = 30
MIN_CHARS, MAX_CHARS = 15, 600
SHORT_MAX_WORDS = 30  # one-line prompts and chat messages
LONG_MIN_CHARS = 250  # paragraphs of prose


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    """Every row of the set; a missing file fails here rather than skipping."""
    return read_rows(DATA, KEYS)


def test_ids_unique_and_consecutive(rows: list[dict[str, str]]) -> None:
    assert [r["id"] for r in rows] == [f"hn-{i:04d}" for i in range(1, len(rows) + 1)]


def test_every_kind_present_and_no_unknown_kind(rows: list[dict[str, str]]) -> None:
    counts = Counter(r["kind"] for r in rows)
    assert set(counts) == set(KINDS), f"unexpected or missing kinds: {set(counts) ^ set(KINDS)}"
    thin = {k: c for k, c in counts.items() if c < MIN_PER_KIND}
    assert not thin, f"kinds with fewer than {MIN_PER_KIND} rows: {thin}"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def test_texts_unique_after_normalising(rows: list[dict[str, str]]) -> None:
    dupes = [t for t, c in Counter(_norm(r["text"]) for r in rows).items() if c > 1]
    assert not dupes, f"duplicate texts: {dupes[:3]}"


def test_lengths_in_range(rows: list[dict[str, str]]) -> None:
    bad = [r["id"] for r in rows if not MIN_CHARS <= len(r["text"]) <= MAX_CHARS]
    assert not bad, f"texts outside {MIN_CHARS}-{MAX_CHARS} characters: {bad}"


def test_both_length_groups_in_every_kind(rows: list[dict[str, str]]) -> None:
    short, long = Counter(), Counter()
    for r in rows:
        if len(r["text"].split()) <= SHORT_MAX_WORDS:
            short[r["kind"]] += 1
        if len(r["text"]) >= LONG_MIN_CHARS:
            long[r["kind"]] += 1
    missing = [k for k in KINDS if not short[k] or not long[k]]
    assert not missing, f"kinds lacking one-line or paragraph texts: {missing}"


def _denied(text: str) -> set[str]:
    """Denied words in text, matched as whole words whatever their case or surrounding punctuation."""
    return DENY & set(re.findall(r"[a-z]+", text.lower()))


def test_no_denied_words(rows: list[dict[str, str]]) -> None:
    hits = [r["id"] for r in rows if _denied(r["text"])]
    assert not hits, f"rows with a denied word: {hits}"


def test_deny_check_flags_each_word_and_spares_hard_negatives() -> None:
    """Guards the guard: a decoding or matching slip would let every text pass unseen."""
    for word in DENY:
        assert _denied(f'He typed "{word.upper()}!" twice.') == {word}
    assert not _denied("Kill the frozen process, then shoot a ticket to the infra team.")
