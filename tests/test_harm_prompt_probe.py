"""The project's chat-prompt probe (data/harm_prompt_probe): well-formed, balanced, free of the denied words, and
counted by the evaluation per label, group and category.

The prompts are the evaluation's probe of harmful requests and of safe prompts that sound harmful
(`benchmarks.eval_harm`, `project_prompt_probe`); a malformed line or a lost group would silently change what it
measures. No model is loaded."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.project_data import DENY, OneCategoryJudge, read_rows

KEYS = {"text", "group"}
HARMFUL_GROUPS = ("hate", "harassment", "violence", "self_harm", "illicit", "sexual")
SAFE_GROUPS = (
    "homonyms",
    "figurative",
    "safe_targets",
    "safe_contexts",
    "definitions",
    "history_news",
    "help_seeking",
)
PROBE = Path(__file__).resolve().parents[1] / "data" / "harm_prompt_probe"


@pytest.fixture(scope="module")
def prompts() -> dict[str, list[dict[str, str]]]:
    """Both files; a missing file fails here rather than skipping."""
    return {label: read_rows(PROBE / f"{label}.jsonl", KEYS) for label in ("harmful", "safe")}


def test_counts_per_group(prompts: dict[str, list[dict[str, str]]]) -> None:
    harmful = Counter(r["group"] for r in prompts["harmful"])
    safe = Counter(r["group"] for r in prompts["safe"])
    assert harmful == dict.fromkeys(HARMFUL_GROUPS, 25)
    assert safe == {**dict.fromkeys(SAFE_GROUPS, 25), "safe_targets": 24}  # one dropped by the overlap check


def test_ascii_unique_and_prompt_length(prompts: dict[str, list[dict[str, str]]]) -> None:
    texts = [r["text"] for rows in prompts.values() for r in rows]
    assert all(t.isascii() and 5 <= len(t.split()) <= 22 for t in texts)
    assert len({t.lower() for t in texts}) == len(texts)


def test_no_denied_words(prompts: dict[str, list[dict[str, str]]]) -> None:
    texts = [r["text"] for rows in prompts.values() for r in rows]
    hits = [t for t in texts if DENY & set(re.findall(r"[a-z]+", t.lower()))]
    assert not hits, f"prompts with a denied word: {hits}"


def test_the_evaluation_counts_them_per_label_group_and_category(
    prompts: dict[str, list[dict[str, str]]],
) -> None:
    """A prompt counts as fired when any harm category fires on it; shares per group, counts per category."""
    from benchmarks.eval_harm import PROMPT_PROBE, project_prompt_probe

    assert PROMPT_PROBE == PROBE
    fires = lambda t: " how " in f" {t.lower()} "  # noqa: E731
    out = project_prompt_probe(OneCategoryJudge("violence", fires))
    for label in ("harmful", "safe"):
        rows = prompts[label]
        hits = [r["text"] for r in rows if fires(r["text"])]
        assert out[label]["n"] == len(rows) and out[label]["fired"] == len(hits) > 0
        assert out[label]["texts_fired"] == hits
        assert out[label]["share_fired"] == round(len(hits) / len(rows), 4)
        assert out[label]["per_category"]["violence"] == len(hits)
        assert sum(out[label]["per_category"].values()) == len(hits)
    help_seeking = [r for r in prompts["safe"] if r["group"] == "help_seeking"]
    assert out["safe"]["per_group"]["help_seeking"] == round(
        sum(fires(r["text"]) for r in help_seeking) / len(help_seeking), 4
    )
    assert set(out["safe"]["per_group"]) == set(SAFE_GROUPS)
    assert set(out["harmful"]["per_group"]) == set(HARMFUL_GROUPS)
