"""The project's chat rows (data/harm_chat_rows): built from the ship rules' written sets, labelled as each set was
written, never from a set that became an evaluation probe, and read by the encoder heads only.

A row whose label leaked into another category, a probe text that crept in, or a lost origin would silently change the
shipped heads on the next retrain (`scripts/build_harm_chat_rows.py`, `scripts/harm_data.py`). No model is loaded."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from filters.detectors.harm import CATEGORIES
from scripts.build_harm_chat_rows import EXCLUDED, OUT, RULES, labels_of, rule_sets
from scripts.harm_data import HEADS_ONLY_SOURCES, NULL, SOURCE_SPLIT, hashed_split, load_chat_rows
from scripts.train_harm_encoder import UNCAPPED_SOURCES, sample_items
from tests.project_data import DENY

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    assert OUT.is_file(), f"missing {OUT}"
    out = [json.loads(line) for line in OUT.read_text(encoding="utf-8").splitlines()]
    for r in out:
        assert set(r) == {"id", "text", "origin", "kind", "labels"}, sorted(r)
        assert set(r["labels"]) == set(CATEGORIES) and set(r["labels"].values()) <= {0, 1, None}
    return out


def test_every_row_is_labelled_as_its_set_was_written(rows: list[dict]) -> None:
    written: dict[tuple[str, str], dict] = {}
    for path in rule_sets():
        origin = str(path.relative_to(RULES))
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            written[(origin, row["text"].strip())] = row
    for r in rows:
        source = written.get((r["origin"], r["text"]))
        assert source is not None, f"{r['id']} is in no set of {r['origin']}"
        assert labels_of(r["origin"], source) == r["labels"], r["id"]
    assert len({r["id"] for r in rows}) == len(rows)


def test_the_mapping_of_kinds_to_categories() -> None:
    safe = labels_of("x/safe.jsonl", {"text": "t", "group": "homonym"})
    assert safe == {c: (None if c == "profanity" else 0) for c in CATEGORIES}  # safe texts may still swear
    threat = labels_of("violence-rows/harmful.jsonl", {"text": "t", "group": "threat"})
    assert {c for c, v in threat.items() if v == 1} == {"violence", "harassment"}
    assert {c for c, v in threat.items() if v is None} == set(CATEGORIES) - {"violence", "harassment"}
    goodbye = labels_of("x/fresh_A.jsonl", {"text": "t", "label": "harmful", "kind": "goodbye"})
    assert [c for c, v in goodbye.items() if v == 1] == ["self_harm"]
    assert labels_of("x/harmful.jsonl", {"text": "t", "kind": "drugs_poison"}) is None  # no single category
    request = labels_of("casual-negatives/fresh_violent.jsonl", {"text": "t", "kind": "request"})
    assert [c for c, v in request.items() if v == 1] == ["violence"]
    with pytest.raises(ValueError, match="unknown label"):
        labels_of("x/y.jsonl", {"text": "t", "label": "maybe"})


def test_no_row_comes_from_a_probe_set_or_holds_a_probe_text(rows: list[dict]) -> None:
    assert not [r["origin"] for r in rows if r["origin"].startswith(EXCLUDED)]
    probe_texts = {
        json.loads(line)["text"].strip().lower()
        for path in DATA.glob("harm_*_probe/*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
    }
    assert probe_texts and not [r["text"] for r in rows if r["text"].lower() in probe_texts]
    hits = [r["text"] for r in rows if DENY & set(re.findall(r"[a-z]+", r["text"].lower()))]
    assert not hits, f"rows with a denied word: {hits}"


def test_both_labels_of_every_category_but_profanity_negatives(rows: list[dict]) -> None:
    positives = Counter(c for r in rows for c, v in r["labels"].items() if v == 1)
    negatives = Counter(c for r in rows for c, v in r["labels"].items() if v == 0)
    assert set(positives) == set(CATEGORIES)
    assert set(negatives) == set(CATEGORIES) - {"profanity"} and min(negatives.values()) > 1000


def test_the_heads_read_every_row_and_the_fast_tier_none(rows: list[dict]) -> None:
    assert "project_chat" in HEADS_ONLY_SOURCES and "project_chat" in UNCAPPED_SOURCES
    assert SOURCE_SPLIT["project_chat"][0] == "train"
    loaded = load_chat_rows()
    assert len(loaded) == len(rows)
    by_text = {r["text"]: r for r in rows}
    for row in loaded:
        r = by_text[row.text]
        assert row.split == hashed_split(r["id"])
        assert row.labels == tuple(NULL if r["labels"][c] is None else r["labels"][c] for c in CATEGORIES)
        assert row.harmful == int(1 in row.labels)
    splits = Counter(r.split for r in loaded)
    assert 0.1 < splits["dev"] / len(loaded) < 0.3
    for split in ("train", "dev"):
        items, _docs = sample_items(loaded, split)
        assert len(items) == splits[split]  # no cap drops a chat row
