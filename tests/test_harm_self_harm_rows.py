"""The project's self-harm rows (data/harm_self_harm): well-formed, balanced, free of the denied words, and loaded as
a train source that labels self_harm only.

They train the self_harm heads of both tiers (`scripts/harm_data.py`, `project_self_harm`); a malformed line, a lost
kind or a label that leaked into another category would silently change the shipped models on the next retrain. No
model is loaded."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from filters.detectors.harm import CATEGORIES
from scripts.harm_data import (
    NULL,
    PROJECT_SELF_HARM,
    SOURCE_SPLIT,
    hashed_split,
    load_all,
    load_project_self_harm,
)
from tests.project_data import DENY

ROWS = Path(__file__).resolve().parents[1] / "data" / "harm_self_harm" / "rows.jsonl"
HARMFUL_KINDS = ("intent", "method_request", "concealment", "eating_disorder", "urging_others", "self_injury")
SAFE_KINDS = ("help_seeking", "recovery", "clinical", "prevention_news", "figurative", "fiction_media")


def _rows() -> list[dict]:
    assert ROWS.is_file(), f"missing {ROWS}"
    out = []
    for n, line in enumerate(ROWS.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        assert set(row) == {"id", "text", "label", "kind"}, f"line {n}: keys {sorted(row)}"
        assert isinstance(row["text"], str) and row["label"] in (0, 1), f"line {n}"
        out.append(row)
    return out


def test_counts_per_label_and_kind() -> None:
    counts = Counter((r["label"], r["kind"]) for r in _rows())
    assert {k for label, k in counts if label == 1} == set(HARMFUL_KINDS)
    assert {k for label, k in counts if label == 0} == set(SAFE_KINDS)
    assert all(counts[1, k] == 50 for k in HARMFUL_KINDS)
    assert all(counts[0, k] == 50 for k in SAFE_KINDS if k != "figurative")
    assert counts[0, "figurative"] == 48  # two dropped by the overlap check (README)


def test_unique_ids_and_texts_without_denied_words() -> None:
    rows = _rows()
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["text"].lower() for r in rows}) == len(rows)
    hits = [r["text"] for r in rows if DENY & set(re.findall(r"[a-z]+", r["text"].lower()))]
    assert not hits, f"rows with a denied word: {hits}"


def test_the_loader_labels_self_harm_only_and_splits_by_id() -> None:
    assert PROJECT_SELF_HARM == ROWS and SOURCE_SPLIT["project_self_harm"][0] == "train"
    k = CATEGORIES.index("self_harm")
    loaded = load_project_self_harm()
    by_text = {r["text"]: r for r in _rows()}
    assert len(loaded) == len(by_text)
    for row in loaded:
        assert row.source == "project_self_harm" and row.kind == "prompt"
        assert row.labels[k] == by_text[row.text]["label"] == row.harmful
        assert all(v == NULL for i, v in enumerate(row.labels) if i != k)
    assert all(
        row.split == hashed_split(by_text[row.text]["id"]) for row in loaded
    )  # by the id's salted hash
    splits = Counter(r.split for r in loaded)
    assert set(splits) == {"train", "dev"} and 0.1 < splits["dev"] / len(loaded) < 0.3


def test_every_training_run_reads_them(tmp_path: Path) -> None:
    """`load_all` adds the rows whatever data folder it is given (the trainers' one entry point)."""
    from tests.test_harm_train import write_tiny_data

    rows = load_all(write_tiny_data(tmp_path / "data"))
    ours = [r for r in rows if r.source == "project_self_harm"]
    assert len(ours) == len(_rows()) and {r.split for r in ours} == {"train", "dev"}
