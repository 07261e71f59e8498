"""The project's own training rows (data/harm_self_harm, data/harm_violence, data/harm_illicit): well-formed,
balanced, free of the denied words, and each loaded as a train source that labels its one category only.

They train that category's heads (`scripts/harm_data.py`, `PROJECT_ROWS`; of both tiers, or of the encoder only for
`HEADS_ONLY_SOURCES`); a malformed line, a lost kind or a label that leaked into another category would silently
change the shipped models on the next retrain. No model is loaded."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from filters.detectors.harm import CATEGORIES
from scripts.harm_data import (
    HEADS_ONLY_SOURCES,
    NULL,
    PROJECT_ROWS,
    SOURCE_SPLIT,
    hashed_split,
    load_all,
    load_project_rows,
)
from tests.project_data import DENY

DATA = Path(__file__).resolve().parents[1] / "data"
# source -> (rows file, category, {(label, kind): rows}); counts below 50 are the overlap check's drops (READMEs).
SELF_HARM_KINDS = (
    "intent",
    "method_request",
    "concealment",
    "eating_disorder",
    "urging_others",
    "self_injury",
)
SAFE_SELF_HARM_KINDS = ("help_seeking", "recovery", "clinical", "prevention_news", "fiction_media")
VIOLENCE_KINDS = ("hurt_request", "threat", "attack_plan", "glorify", "incite", "graphic_request")
SAFE_VIOLENCE_KINDS = (
    "homonym_tech",
    "figurative",
    "sport_games",
    "history_news",
    "fiction_film",
    "safety_law",
)
ILLICIT_KINDS = ("drugs", "weapons", "cyber", "fraud", "theft", "evasion")
EXPECTED = {
    "project_self_harm": (
        DATA / "harm_self_harm" / "rows.jsonl",
        "self_harm",
        {
            **dict.fromkeys([(1, k) for k in SELF_HARM_KINDS] + [(0, k) for k in SAFE_SELF_HARM_KINDS], 50),
            (0, "figurative"): 48,
        },
    ),
    "project_violence": (
        DATA / "harm_violence" / "rows.jsonl",
        "violence",
        {
            **dict.fromkeys([(1, k) for k in VIOLENCE_KINDS] + [(0, k) for k in SAFE_VIOLENCE_KINDS], 50),
            (0, "homonym_tech"): 49,
            (0, "safety_law"): 49,
        },
    ),
    "project_illicit": (
        DATA / "harm_illicit" / "rows.jsonl",
        "illicit",
        {
            **dict.fromkeys([(1, k) for k in ILLICIT_KINDS], 50),
            (1, "fraud"): 49,
            (0, "everyday_howto"): 50,
            (0, "cooking_science"): 49,
            (0, "security_it"): 48,
            (0, "law_legal"): 47,
            (0, "medicine_health"): 49,
            (0, "money_business"): 49,
        },
    ),
}


def _rows(path: Path) -> list[dict]:
    assert path.is_file(), f"missing {path}"
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        assert set(row) == {"id", "text", "label", "kind"}, f"{path.name} line {n}: keys {sorted(row)}"
        assert isinstance(row["text"], str) and row["label"] in (0, 1), f"{path.name} line {n}"
        out.append(row)
    return out


def test_every_project_source_is_checked_here() -> None:
    assert set(PROJECT_ROWS) == set(EXPECTED)


def test_the_violence_and_illicit_rows_train_the_encoder_heads_only() -> None:
    """Trained into the fast tier, the violence rows cost it spaced-out text (SHIP_RULE-2026-12-06-violence-rows.md)."""
    assert set(HEADS_ONLY_SOURCES) == {"project_violence", "project_illicit"}


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_counts_per_label_and_kind(source: str) -> None:
    path, _category, expected = EXPECTED[source]
    assert Counter((r["label"], r["kind"]) for r in _rows(path)) == expected


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_unique_ids_and_texts_without_denied_words(source: str) -> None:
    rows = _rows(EXPECTED[source][0])
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["text"].lower() for r in rows}) == len(rows)
    hits = [r["text"] for r in rows if DENY & set(re.findall(r"[a-z]+", r["text"].lower()))]
    assert not hits, f"rows with a denied word: {hits}"


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_the_loader_labels_one_category_and_splits_by_id(source: str) -> None:
    path, category, _expected = EXPECTED[source]
    assert PROJECT_ROWS[source] == (category, path) and SOURCE_SPLIT[source][0] == "train"
    k = CATEGORIES.index(category)
    loaded = load_project_rows(source)
    by_text = {r["text"]: r for r in _rows(path)}
    assert len(loaded) == len(by_text)
    for row in loaded:
        assert row.source == source and row.kind == "prompt"
        assert row.labels[k] == by_text[row.text]["label"] == row.harmful
        assert all(v == NULL for i, v in enumerate(row.labels) if i != k)
    assert all(
        row.split == hashed_split(by_text[row.text]["id"]) for row in loaded
    )  # by the id's salted hash
    splits = Counter(r.split for r in loaded)
    assert set(splits) == {"train", "dev"} and 0.1 < splits["dev"] / len(loaded) < 0.3


def test_no_text_is_in_two_project_sources() -> None:
    seen: dict[str, str] = {}
    for source, (path, _category, _expected) in EXPECTED.items():
        for r in _rows(path):
            assert r["text"].lower() not in seen, (
                f"{r['text']!r} in {seen.get(r['text'].lower())} and {source}"
            )
            seen[r["text"].lower()] = source


def test_every_training_run_reads_them(tmp_path: Path) -> None:
    """`load_all` adds the rows whatever data folder it is given (the trainers' one entry point)."""
    from tests.test_harm_train import write_tiny_data

    rows = load_all(write_tiny_data(tmp_path / "data"))
    for source, (path, _category, _expected) in EXPECTED.items():
        ours = [r for r in rows if r.source == source]
        assert len(ours) == len(_rows(path)) and {r.split for r in ours} == {"train", "dev"}
