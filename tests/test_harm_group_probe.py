"""The project's probe of messages that name groups of people (data/harm_group_probe): well-formed, balanced, free of
the denied words, and counted by the evaluation per label, group and category.

The messages are the evaluation's probe of over-blocking on safe text about groups and of hate without slurs
(`benchmarks.eval_harm`, `project_group_probe`); a malformed line or a lost group would silently change what it
measures. No model is loaded."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.project_data import DENY, OneCategoryJudge, read_rows

KEYS = {"text", "group", "kind", "target"}
PROBE = Path(__file__).resolve().parents[1] / "data" / "harm_group_probe"
# Per label: {group: messages}; the fresh sets of two ship rules after their overlap checks' drops (README).
EXPECTED = {
    "harmful": {"hate": 156, "violence": 40, "harassment": 40},
    "safe": {
        "facts_news_policy": 129,
        "question": 67,
        "appreciation": 67,
        "identity": 66,
        "counter_speech": 65,
    },
}
TARGETS = {
    "race",
    "ethnicity",
    "nationality",
    "immigrants",
    "religion",
    "gender",
    "sexual_orientation",
    "gender_identity",
    "disability",
}


@pytest.fixture(scope="module")
def messages() -> dict[str, list[dict[str, str]]]:
    """Both files; a missing file fails here rather than skipping."""
    return {label: read_rows(PROBE / f"{label}.jsonl", KEYS) for label in EXPECTED}


def test_counts_per_group_and_every_target_named(messages: dict[str, list[dict[str, str]]]) -> None:
    for label, rows in messages.items():
        assert Counter(r["group"] for r in rows) == EXPECTED[label]
        assert {r["target"] for r in rows} == TARGETS


def test_unique_chat_length_and_no_denied_words(messages: dict[str, list[dict[str, str]]]) -> None:
    texts = [r["text"] for rows in messages.values() for r in rows]
    assert all(4 <= len(t.split()) <= 25 for t in texts)
    assert len({t.lower() for t in texts}) == len(texts)
    hits = [t for t in texts if DENY & set(re.findall(r"[a-z]+", t.lower()))]
    assert not hits, f"messages with a denied word: {hits}"


def test_the_evaluation_counts_them_per_label_group_and_category(
    messages: dict[str, list[dict[str, str]]],
) -> None:
    """A message counts as fired when any harm category fires on it; shares per group, counts per category."""
    from benchmarks.eval_harm import GROUP_PROBE, project_group_probe

    assert GROUP_PROBE == PROBE
    fires = lambda t: " women " in f" {t.lower()} "  # noqa: E731
    out = project_group_probe(OneCategoryJudge("violence", fires))
    for label, rows in messages.items():
        hits = [r["text"] for r in rows if fires(r["text"])]
        assert out[label]["n"] == len(rows) and out[label]["fired"] == len(hits) > 0
        assert out[label]["texts_fired"] == hits
        assert out[label]["per_category"]["violence"] == len(hits)
        assert sum(out[label]["per_category"].values()) == len(hits)
        assert set(out[label]["per_group"]) == set(EXPECTED[label])
    counter = [r for r in messages["safe"] if r["group"] == "counter_speech"]
    assert out["safe"]["per_group"]["counter_speech"] == round(
        sum(fires(r["text"]) for r in counter) / len(counter), 4
    )
