"""Atomic writes: a failed write leaves nothing behind."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from pipeline import storage


def test_atomic_parquet_writer_leaves_nothing_on_error(tmp_path):
    path = str(tmp_path / "part-00000.parquet")
    schema = pa.schema([("id", pa.string())])
    with pytest.raises(RuntimeError), storage.AtomicParquetWriter(path, schema) as w:
        w.write(pa.table({"id": ["a"]}))
        raise RuntimeError("killed mid-write")
    assert os.listdir(tmp_path) == []
    with storage.AtomicParquetWriter(path, schema) as w:
        w.write(pa.table({"id": ["a", "b"]}))
    assert storage.read_parquet(path)["id"].to_pylist() == ["a", "b"]


def test_parquet_bytes_are_deterministic(tmp_path):
    t = pa.table({"id": ["x", "y"], "text": ["hello", "world"]})
    storage.write_parquet(str(tmp_path / "a.parquet"), t)
    storage.write_parquet(str(tmp_path / "b.parquet"), t)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_listdir_is_sorted_and_skips_hidden(tmp_path):
    for name in ["b.parquet", "a.parquet", ".a.parquet.tmp", "c.json"]:
        (tmp_path / name).write_text("x")
    assert [os.path.basename(p) for p in storage.listdir(str(tmp_path), ".parquet")] == [
        "a.parquet",
        "b.parquet",
    ]
