"""The dedup speed benchmark runs datatrove's DEFAULT MinHash configuration (issue 14): its xxhash path hands
`str` to xxhash, which xxhash>=4 refuses; `_xxhash_accepts_str` must make it run and hash the UTF-8 bytes."""

from __future__ import annotations

import numpy as np
import pytest
import xxhash


def test_datatrove_default_xxhash_runs_and_hashes_utf8(tmp_path, monkeypatch) -> None:
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashes import xxhash as dt_xxhash
    from datatrove.utils.text import simplify_text

    from benchmarks.dedup_speed import _whitespace_tokenizer, _xxhash_accepts_str

    text = "Grüße aus Köln: the quick brown fox jumps over the lazy dog again and again"
    if int(xxhash.VERSION.split(".")[0]) >= 4:  # the refusal the wrapper works around
        with pytest.raises(TypeError):
            xxhash.xxh64_intdigest(text)
    for name in ("xxhash32", "xxhash64"):  # datatrove's own functions come back after this test
        monkeypatch.setattr(dt_xxhash, name, getattr(dt_xxhash, name))
    _xxhash_accepts_str()
    step = MinhashDedupSignature(str(tmp_path), config=MinhashConfig(), language=_whitespace_tokenizer())
    assert step.config.hash_config.hash_fc == "xxhash" and step.config.hash_config.precision == 64
    shingles = step.get_shingles(text)

    words = simplify_text(text, step.config.norm_config).split()
    expected = [xxhash.xxh64_intdigest(" ".join(words[i : i + 5]).encode()) for i in range(len(words) - 4)]
    assert shingles.ravel().tolist() == expected
    sig = step.get_signature(shingles)
    assert len(sig) == 14 and all(len(b) == 8 for b in sig)
    assert np.asarray(sig).dtype.kind in "iu"


def test_the_harm_cost_is_measured_against_the_shipped_chain_without_it() -> None:
    """filter_speed's "harm adds" compares the shipped pre-training chain with the same chain minus its
    harm classifier entries: every other detector and category stays as shipped."""
    from benchmarks.filter_speed import _policy_filter, chain_without_harm

    full, without = _policy_filter(), chain_without_harm()
    assert "harm" in full.detectors
    assert set(without.detectors) == set(full.detectors) - {"harm"}
    assert set(without.categories) == set(full.categories)  # every harm category keeps its terms
    for name in full.categories:  # every other entry with its threshold and action, as shipped
        assert without._plan[name] == [entry for entry in full._plan[name] if entry[0] != "harm"]


def test_harm_adds_is_chain_time_over_chain_without_harm_time() -> None:
    from benchmarks.filter_speed import harm_adds

    per_set = [  # docs per CPU-second: 100 and 200 -> the chain takes twice the time: adds 100%
        {"cold": {"winnow_full_chain": 100.0, "winnow_chain_without_harm": 200.0}},
        {"cold": {"winnow_full_chain": 150.0, "winnow_chain_without_harm": 375.0}},
        {"cold": {"winnow_full_chain": 50.0, "winnow_chain_without_harm": 250.0}},
    ]
    assert harm_adds(per_set) == {"median": 1.5, "min": 1.0, "max": 4.0}
    assert harm_adds([{"cold": {"datatrove": 40.0}}]) == {}
    fast = [{"cold": {"winnow_chain_fast_harm": 160.0, "winnow_chain_without_harm": 200.0}}]
    assert harm_adds(fast, "winnow_chain_fast_harm") == {"median": 0.25, "min": 0.25, "max": 0.25}


def test_the_variant_chains_differ_from_the_shipped_one_in_their_one_setting() -> None:
    """filter_speed's fp32-encoder and score-every-document chains are the shipped chain with one
    setting changed, and the shipped chain skips dropped documents and picks the encoder precision."""
    from benchmarks.filter_speed import _policy_filter, chain_fp32_encoder, chain_scoring_every_document
    from filters.detectors.encoder import bf16_is_native

    full, fp32, every = _policy_filter(), chain_fp32_encoder(), chain_scoring_every_document()
    assert full._skip_dropped and not every._skip_dropped and fp32._skip_dropped
    assert full.detectors["harm"].encoder.precision == ("bf16" if bf16_is_native() else "fp32")
    assert fp32.detectors["harm"].encoder.precision == "fp32"
    assert every.detectors["harm"].encoder.precision == full.detectors["harm"].encoder.precision
    for other in (fp32, every):
        assert other._plan == full._plan and other._stages == full._stages


def test_the_encoder_meter_counts_only_the_timed_documents() -> None:
    """filter_speed's account of the shipped chain's harm work: windows scored, windows the encoder
    judged and the CPU time inside it, since the last `take` (so the warm-up texts are left out)."""
    from types import SimpleNamespace

    from benchmarks.filter_speed import EncoderMeter, _policy_filter
    from filters.detectors.harm import HarmDetector

    assert isinstance(_policy_filter().detectors["harm"], HarmDetector)  # what the meter wraps
    harm = HarmDetector(encoder="required", mode="pretrain")
    meter = EncoderMeter(SimpleNamespace(detectors={"harm": harm}))
    threat = "I am going to kill you and burn your house down tonight."
    harm.detect_batch([threat])
    assert meter.take()["encoder_windows"] == 1
    assert meter.take() == {
        "windows": 0,
        "encoder_windows": 0,
        "unreadable_windows": 0,
        "resegmented_windows": 0,
        "encoder_cpu_s": 0.0,
    }
    page = "The garden club met on Tuesday to plan the spring planting of tomatoes and beans. " * 8
    harm.detect_batch([page, threat])
    work = meter.take()
    assert work["windows"] >= 3 and work["encoder_windows"] == 1 and work["encoder_cpu_s"] > 0


def test_the_harm_cost_split_is_pooled_over_sets() -> None:
    """Total CPU time over total CPU time: two sets of 100 documents, the chain without harm taking 1 s
    and 3 s, the shipped chain 2 s and 5 s, the fast-tier-only chain 1.5 s and 3.5 s, the encoder 1 s."""
    from benchmarks.filter_speed import harm_cost_split

    work = {"windows": 50, "encoder_windows": 5, "unreadable_windows": 0, "encoder_cpu_s": 0.5}
    rates = (  # docs per CPU-second
        {"winnow_full_chain": 50.0, "winnow_chain_without_harm": 100.0, "winnow_chain_fast_harm": 100 / 1.5},
        {
            "winnow_full_chain": 20.0,
            "winnow_chain_without_harm": 100 / 3,
            "winnow_chain_fast_harm": 100 / 3.5,
        },
    )
    per_set = [{"docs": 100, "cold": cold, "shipped_chain_harm_work": work} for cold in rates]
    split = harm_cost_split(per_set)
    assert split["windows"] == 100 and split["encoder_windows"] == 10 and split["encoder_cpu_s"] == 1.0
    assert split["encoder_window_share"] == 0.1 and split["encoder_ms_per_window"] == 100.0
    assert abs(split["pooled_harm_adds"] - 0.75) < 1e-12  # 7 s / 4 s - 1
    assert abs(split["pooled_fast_tier_adds"] - 0.25) < 1e-12  # 5 s / 4 s - 1
    assert abs(split["pooled_encoder_share"] - 0.25) < 1e-12  # 1 s / 4 s
    assert abs(split["pooled_rest"] - 0.25) < 1e-12  # (7 - 5 - 1) s / 4 s
    assert harm_cost_split([{"docs": 100, "cold": rates[0]}]) == {}


def test_a_turn_scans_only_what_it_allocates() -> None:
    """filter_speed's contenders share one process: what was built before timing is frozen out of the
    collector's scans, and a turn starts with empty young generations, so a full collection of the
    other contenders' objects cannot land in one contender's time (`_settle_heap`, `_timed_turn`)."""
    import gc
    import weakref

    from benchmarks.filter_speed import _settle_heap, _timed_turn

    class Node:
        pass

    built = [[i] for i in range(50_000)]  # another contender's models and tables
    frozen_before = gc.get_freeze_count()
    try:
        _settle_heap()
        assert gc.get_freeze_count() >= frozen_before + len(built)
        cycle = Node()
        cycle.me = cycle  # garbage a previous turn left behind, freed only by a collection
        alive = weakref.ref(cycle)
        del cycle
        calls = []
        rate, full = _timed_turn(lambda docs: calls.append(alive() is None), ["a", "b", "c", "d"])
        assert calls == [True]  # collected before the turn's clock started
        assert rate > 0 and full == 0
    finally:
        gc.unfreeze()
