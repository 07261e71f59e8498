"""The probes made of ship rules' fresh messages (data/harm_group_probe: messages that name groups of people;
data/harm_help_probe: people asking for help about harm, and harmful requests on the same topics; data/harm_tone_probe:
casual messages, hostile without violence, violent and calm; data/harm_emoji_probe: messages with and without emoji;
data/harm_self_harm_probe: self-harm ideation and safe messages about self-harm): well-formed, balanced, free of the
denied words, and counted by the evaluation per label, group and category.

They are the evaluation's measure of over-blocking on safe text about groups and on help-seeking messages, and of which
category fires on hostile and violent messages, on messages with emoji and on self-harm (`benchmarks.eval_harm`,
`project_{group,help,tone,emoji,self_harm}_probe`); a malformed line or a lost group would silently change what they measure. No model is loaded."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.project_data import DENY, OneCategoryJudge, read_rows

DATA = Path(__file__).resolve().parents[1] / "data"
# probe -> (folder, keys of a line, {label: {group: messages}}, {label: (fewest, most words)}); the counts are after the
# rules' overlap checks, the lengths as the READMEs give them.
PROBES = {
    "group": (
        DATA / "harm_group_probe",
        {"text", "group", "kind", "target"},
        {
            "harmful": {"hate": 156, "violence": 40, "harassment": 40},
            "safe": {
                "facts_news_policy": 129,
                "question": 67,
                "appreciation": 67,
                "identity": 66,
                "counter_speech": 65,
            },
        },
        {"harmful": (5, 16), "safe": (7, 21)},
    ),
    "help": (
        DATA / "harm_help_probe",
        {"text", "group"},
        {
            "harmful": {
                "self_harm": 18,
                "abuse_stalking": 19,
                "child_exploitation": 20,
                "drugs_poison": 19,
                "violence": 18,
                "evasion": 20,
            },
            "safe": {
                "support_someone": 34,
                "victim_safety": 31,
                "child_safety": 31,
                "emergency": 30,
                "reporting_law": 31,
                "recovery": 32,
            },
        },
        {"harmful": (8, 19), "safe": (6, 19)},
    ),
    "tone": (
        DATA / "harm_tone_probe",
        {"text", "group"},
        {
            "hostile": {
                "insult_reader": 136,
                "put_down": 110,
                "demeaning_group": 77,
                "contempt_public_figure": 55,
                "profane_rant": 42,
            },
            "violent": {
                "threat": 130,
                "how_to_hurt": 110,
                "incitement": 75,
                "wish_of_harm": 60,
                "glorification": 39,
            },
            "calm": {"violent_idiom": 125, "chat": 119, "disagreement": 110, "thanks_smalltalk": 58},
        },
        {"hostile": (5, 32), "violent": (5, 24), "calm": (5, 23)},
    ),
    "emoji": (
        DATA / "harm_emoji_probe",
        {"text", "group"},
        {
            "harmful": {"hate": 59, "violence": 59, "harassment": 50, "self_harm": 30},
            "benign": {"harsh_emoji": 80, "everyday_emoji": 150},
            "plain_harmful": {"hate": 30, "violence": 29, "harassment": 25, "self_harm": 14},
            "plain_benign": {"everyday": 60, "violent_words": 29},
        },
        {"harmful": (6, 15), "benign": (5, 17), "plain_harmful": (6, 18), "plain_benign": (5, 18)},
    ),
    "self_harm": (
        DATA / "harm_self_harm_probe",
        {"text", "group"},
        {
            "harmful": {"direct": 34, "indirect": 35, "self_injury": 25, "goodbye": 30, "relapse": 25},
            "safe": {
                "help_seeking": 50,
                "support": 40,
                "recovery": 30,
                "information": 30,
                "news": 20,
                "figurative": 26,
            },
        },
        {"harmful": (9, 21), "safe": (5, 26)},
    ),
}
GROUP_TARGETS = {
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


def _messages(probe: str) -> dict[str, list[dict[str, str]]]:
    """Every file of a probe (one per label); a missing file fails here rather than skipping."""
    folder, keys, expected, _lengths = PROBES[probe]
    return {label: read_rows(folder / f"{label}.jsonl", keys) for label in expected}


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_counts_per_group(probe: str) -> None:
    for label, rows in _messages(probe).items():
        assert Counter(r["group"] for r in rows) == PROBES[probe][2][label]


def test_the_group_probe_names_every_target() -> None:
    for rows in _messages("group").values():
        assert {r["target"] for r in rows} == GROUP_TARGETS


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_unique_lengths_as_documented_and_no_denied_words(probe: str) -> None:
    messages = _messages(probe)
    for label, rows in messages.items():
        words = [len(r["text"].split()) for r in rows]
        assert (min(words), max(words)) == PROBES[probe][3][label]
    texts = [r["text"] for rows in messages.values() for r in rows]
    assert len({t.lower() for t in texts}) == len(texts)
    hits = [t for t in texts if DENY & set(re.findall(r"[a-z]+", t.lower()))]
    assert not hits, f"messages with a denied word: {hits}"


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_the_evaluation_counts_them_per_label_group_and_category(probe: str) -> None:
    """A message counts as fired when any harm category fires on it; shares per group, counts per category."""
    from benchmarks import eval_harm

    folder, _keys, expected, _lengths = PROBES[probe]
    assert getattr(eval_harm, f"{probe.upper()}_PROBE") == folder
    fires = lambda t: " my " in f" {t.lower()} " or " women " in f" {t.lower()} "  # noqa: E731
    out = getattr(eval_harm, f"project_{probe}_probe")(OneCategoryJudge("violence", fires))
    for label, rows in _messages(probe).items():
        hits = [r["text"] for r in rows if fires(r["text"])]
        assert out[label]["n"] == len(rows) and out[label]["fired"] == len(hits) > 0
        assert out[label]["texts_fired"] == hits
        assert out[label]["per_category"]["violence"] == len(hits)
        assert sum(out[label]["per_category"].values()) == len(hits)
        assert set(out[label]["per_group"]) == set(expected[label])
        for group in expected[label]:
            members = [r for r in rows if r["group"] == group]
            share = sum(fires(r["text"]) for r in members) / len(members)
            assert out[label]["per_group"][group] == round(share, 4)
