"""The ledger reconciles, and says so when it does not."""

from __future__ import annotations

import pytest

from pipeline.ledger import LedgerError, StageStats, funnel_table, ledger_dict


def test_merge_and_reconcile():
    a = StageStats("filter", input=10, kept=6, removed={"hate": 3}, quarantined=1)
    b = StageStats("filter", input=5, kept=4, removed={"hate": 1})
    a.merge(b)
    assert (a.input, a.kept, a.removed, a.quarantined) == (15, 10, {"hate": 4}, 1)
    a.check()
    a.kept += 1
    with pytest.raises(LedgerError, match="does not reconcile"):
        a.check()


def test_ledger_chains_stages_and_renders_a_funnel():
    stages = [
        StageStats("ingest", input=100, kept=90, removed={"empty_text": 5}, quarantined=5),
        StageStats("exact_dedup", input=90, kept=80, removed={"exact_duplicate": 10}),
    ]
    ledger = ledger_dict(stages)
    assert ledger["documents_in"] == 100 and ledger["documents_out"] == 80 and ledger["reconciles"]
    text = funnel_table(ledger)
    assert "exact_duplicate 10" in text and "reconciles" in text
    stages[1].input = 91
    stages[1].kept = 81
    assert not ledger_dict(stages)["reconciles"]  # a document appeared between stages


def test_round_trip_keeps_extra_keys():
    s = StageStats("tokenize", input=3, kept=3, extra={"tokens": 1000})
    d = s.to_dict()
    assert d["tokens"] == 1000
    assert StageStats.from_dict(d).extra["tokens"] == 1000


def test_unread_input_shows_in_the_totals_even_when_counts_reconcile():
    ingest = StageStats("ingest", input=10, kept=8, quarantined=2)
    ingest.extra.update(sources_incomplete=2, bytes_unread=4096)
    ledger = ledger_dict([ingest, StageStats("exact_dedup", input=8, kept=8)])
    assert ledger["reconciles"] and (ledger["sources_incomplete"], ledger["bytes_unread"]) == (2, 4096)
    assert "not read to the end: 2 source(s), 4,096 bytes unread" in funnel_table(ledger)
    whole = ledger_dict([StageStats("ingest", input=1, kept=1)])
    assert whole["sources_incomplete"] == 0 and "not read" not in funnel_table(whole)


def test_funnel_marks_stages_an_earlier_run_finished_and_an_empty_tokenize():
    ingest = StageStats("ingest", input=2, kept=0, removed={"empty_text": 2}, seconds=4.5)
    ingest.extra["resumed"] = True
    tokenize = StageStats("tokenize", input=0, kept=0, extra={"tokens": 0, "nothing_to_tokenize": True})
    text = funnel_table(ledger_dict([ingest, tokenize]))
    assert "4.5*" in text and "* finished by an earlier run" in text
    assert "tokens: 0 (nothing to tokenize)" in text
    fresh = funnel_table(ledger_dict([StageStats("ingest", input=1, kept=1, seconds=1.0)]))
    assert "*" not in fresh
