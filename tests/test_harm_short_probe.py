"""The project's short chat messages (data/harm_short_messages): well-formed, short, balanced, free of the
denied words, and counted by the evaluation per label and group.

The messages are the evaluation's probe of very short texts (`benchmarks.eval_harm`,
`project_short_messages`); a malformed line, a lost group or a message outside 2-12 words would silently change
what it measures. No model is loaded."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.project_data import DENY, OneCategoryJudge, read_rows

KEYS = {"text", "label", "group"}
HARMFUL_GROUPS = ("hate", "harassment", "sexual", "violence", "self_harm", "illicit", "profanity")
BENIGN_GROUPS = (
    "tech",
    "figurative",
    "games_sports",
    "cooking_home",
    "health_safety",
    "history_news",
    "fiction_media",
    "everyday_strong",
    "everyday",
)
PROBE = Path(__file__).resolve().parents[1] / "data" / "harm_short_messages" / "messages.jsonl"


@pytest.fixture(scope="module")
def messages() -> list[dict[str, str]]:
    """Every message; a missing file fails here rather than skipping."""
    return read_rows(PROBE, KEYS)


def test_counts_per_label_and_group(messages: list[dict[str, str]]) -> None:
    counts = Counter((m["label"], m["group"]) for m in messages)
    assert sum(c for (label, _), c in counts.items() if label == "harmful") == 103
    assert sum(c for (label, _), c in counts.items() if label == "benign") == 119
    assert {g for label, g in counts if label == "harmful"} == set(HARMFUL_GROUPS)
    assert {g for label, g in counts if label == "benign"} == set(BENIGN_GROUPS)
    assert all(14 <= counts["harmful", g] <= 15 for g in HARMFUL_GROUPS)
    assert counts["benign", "everyday"] == 40
    assert all(9 <= counts["benign", g] <= 10 for g in BENIGN_GROUPS if g != "everyday")


def test_short_ascii_and_unique(messages: list[dict[str, str]]) -> None:
    texts = [m["text"] for m in messages]
    assert all(t.isascii() and 2 <= len(t.split()) <= 12 for t in texts), [
        t for t in texts if not (t.isascii() and 2 <= len(t.split()) <= 12)
    ]
    assert len({t.lower() for t in texts}) == len(texts)


def test_no_denied_words(messages: list[dict[str, str]]) -> None:
    hits = [m["text"] for m in messages if DENY & set(re.findall(r"[a-z]+", m["text"].lower()))]
    assert not hits, f"messages with a denied word: {hits}"


def test_the_evaluation_counts_them_per_label_and_group(messages: list[dict[str, str]]) -> None:
    """A message counts as fired when any harm category fires on it; shares per group, texts listed."""
    from benchmarks.eval_harm import SHORT_PROBE, project_short_messages

    assert SHORT_PROBE == PROBE
    out = project_short_messages(OneCategoryJudge("illicit", lambda t: t.lower().startswith("how")))
    for label in ("harmful", "benign"):
        rows = [m for m in messages if m["label"] == label]
        hits = [m["text"] for m in rows if m["text"].lower().startswith("how")]
        assert out[label]["n"] == len(rows) and out[label]["fired"] == len(hits) > 0
        assert out[label]["texts_fired"] == hits
        assert out[label]["share_fired"] == round(len(hits) / len(rows), 4)
    illicit = [m for m in messages if m["group"] == "illicit"]
    assert out["harmful"]["per_group"]["illicit"] == round(
        sum(m["text"].lower().startswith("how") for m in illicit) / len(illicit), 4
    )
    assert set(out["benign"]["per_group"]) == set(BENIGN_GROUPS)
    assert set(out["harmful"]["per_group"]) == set(HARMFUL_GROUPS)
