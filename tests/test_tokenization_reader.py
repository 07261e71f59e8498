"""Reader contract: random access over memory-mapped shards, per-epoch permutation, rank sharding, resume."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenization import TokenizeConfig, tokenize_to_dir
from tokenization.reader import GlobalBatchSampler, TokenDataset


@pytest.fixture(scope="module")
def tokens_dir(tmp_path_factory, shared_data, ray_session) -> Path:
    text = (shared_data / "clean_text" / "wikitext2_valid.txt").read_text(encoding="utf-8")
    docs = [d.strip() for d in text.split("\n = ") if d.strip()][:400]
    d = tmp_path_factory.mktemp("reader")
    pq.write_table(pa.table({"id": [f"wiki-{i}" for i in range(len(docs))], "text": docs}), d / "in.parquet")
    cfg = TokenizeConfig.model_validate(
        {"seq_len": 32, "val_fraction": 0.05, "seed": 3, "shard_rows": 333, "tokenizer": {"vocab_size": 800}}
    )
    tokenize_to_dir([str(d / "in.parquet")], str(d / "tokens"), cfg)
    return d / "tokens"


def _all_rows_via_pyarrow(tokens_dir: Path, split: str) -> np.ndarray:
    manifest = json.loads((tokens_dir / "manifest.json").read_text())
    rows = []
    for shard in manifest["splits"][split]["shards"]:
        with pa.memory_map(str(tokens_dir / shard["path"])) as src:
            rows += pa.ipc.open_stream(src).read_all().column("input_ids").to_pylist()
    return np.asarray(rows, dtype=np.int32)


def test_random_access_matches_shards(tokens_dir):
    ds = TokenDataset(tokens_dir, "train", verify=True)
    ref = _all_rows_via_pyarrow(tokens_dir, "train")
    assert len(ds) == len(ref) > 3 * 333 and len(ds.shard_paths) >= 4
    assert ds.seq_len == 32 and ds.manifest["row_len"] == 33
    assert ds.eos_id == ds.manifest["eos_id"] and ds.vocab_size == 800 and ds.pad_id is not None
    assert ds.tokenizer_path == tokens_dir / "tokenizer.json" and ds.tokenizer_path.is_file()
    for i in (0, 332, 333, 334, len(ds) - 1, -1):
        row = ds[i]
        assert row.dtype == np.int32 and row.shape == (33,)
        np.testing.assert_array_equal(row, ref[i])
    rows = np.random.default_rng(0).integers(0, len(ds), size=500)
    got = ds.take(rows)
    assert got.dtype == np.int32 and got.shape == (500, 33)
    np.testing.assert_array_equal(got, ref[rows])
    assert (ref < ds.vocab_size).all() and (ref >= 0).all()
    assert (ref == ds.eos_id).sum() > 100
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(IndexError):
        ds.take(np.array([0, len(ds)]))
    val = TokenDataset(tokens_dir, "val")
    np.testing.assert_array_equal(val.take(np.arange(len(val))), _all_rows_via_pyarrow(tokens_dir, "val"))
    with pytest.raises(KeyError):
        TokenDataset(tokens_dir, "test")


def test_dataset_pickles_for_dataloader_workers(tokens_dir):
    ds = TokenDataset(tokens_dir)
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone.take(np.arange(10)), ds.take(np.arange(10)))


def test_per_epoch_permutation_drops_partial_batch():
    s = GlobalBatchSampler(num_rows=103, global_batch_size=10, seed=5)
    it = iter(s)
    epoch0 = np.concatenate([next(it) for _ in range(10)])
    assert s.state_dict() == {"epoch": 0, "cursor": 100}
    epoch1 = np.concatenate([next(it) for _ in range(10)])
    assert s.state_dict() == {"epoch": 1, "cursor": 100}
    for e, rows in ((0, epoch0), (1, epoch1)):
        assert len(set(rows.tolist())) == 100 and rows.max() < 103
        perm = np.random.Generator(np.random.PCG64(5 + e)).permutation(103)
        np.testing.assert_array_equal(rows, perm[:100])
    assert not np.array_equal(epoch0, epoch1)
    assert s.steps_per_epoch == 10


def _global_batches(world_size: int, steps: int, state: dict | None = None, **kw) -> list[np.ndarray]:
    """Union of all ranks' batches per step (ranks concatenated in order)."""
    samplers = [GlobalBatchSampler(rank=r, world_size=world_size, **kw) for r in range(world_size)]
    if state is not None:
        for s in samplers:
            s.load_state_dict(state)
    iters = [iter(s) for s in samplers]
    out = []
    for _ in range(steps):
        out.append(np.concatenate([next(i) for i in iters]))
    states = {json.dumps(s.state_dict()) for s in samplers}
    assert len(states) == 1, "ranks disagree on the sampler state"
    return out


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_rank_sharding_and_exact_resume(world_size):
    kw = {"num_rows": 250, "global_batch_size": 16, "seed": 11}
    reference = _global_batches(1, 40, **kw)  # crosses two epoch boundaries (15 steps per epoch)
    assert _arrays_equal(_global_batches(world_size, 40, **kw), reference)

    # ranks are disjoint contiguous slices of the global batch
    s = [iter(GlobalBatchSampler(rank=r, world_size=world_size, **kw)) for r in range(world_size)]
    first = [next(i) for i in s]
    assert all(len(b) == 16 // world_size for b in first)
    assert len(set(np.concatenate(first).tolist())) == 16

    for stop in (1, 7, 15, 22):
        # interrupted run: stop after `stop` steps (world size 1), resume on `world_size` ranks
        sampler = GlobalBatchSampler(**kw)
        it = iter(sampler)
        for _ in range(stop):
            next(it)
        state = sampler.state_dict()
        resumed = _global_batches(world_size, 40 - stop, state=state, **kw)
        assert _arrays_equal(resumed, reference[stop:])


def _arrays_equal(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="divisible"):
        GlobalBatchSampler(100, 10, seed=0, rank=0, world_size=4)
    with pytest.raises(ValueError):
        GlobalBatchSampler(100, 8, seed=0, rank=4, world_size=4)
    with pytest.raises(ValueError, match="fill one global batch"):
        GlobalBatchSampler(5, 8, seed=0)
    s = GlobalBatchSampler(100, 8, seed=0)
    with pytest.raises(ValueError):
        s.load_state_dict({"epoch": 0, "cursor": 101})
