"""Atomic writes: a failed write leaves nothing behind, and a killed one is cleaned on resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

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


_KILLED_WRITER = """
import os, signal, sys
import pyarrow as pa
from pipeline import storage
w = storage.AtomicParquetWriter(sys.argv[1], pa.schema([("id", pa.string())]))
w.write(pa.table({"id": ["a"] * 1000}))
os.kill(os.getpid(), signal.SIGKILL)
"""


def _write_then_die(path: Path) -> None:
    """A real crash mid-write: a process killed while its Parquet part is open."""
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path)], timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL


def test_temporaries_of_a_killed_writer_are_removed(tmp_path):
    part = tmp_path / "ingest" / "part-00000-0000.parquet"
    _write_then_die(part)
    (orphan,) = [p for p in part.parent.iterdir()]
    assert orphan.name.startswith(".part-00000-0000.parquet.") and orphan.name.endswith(".tmp")
    keep = [tmp_path / "ingest" / "part-00001-0000.parquet", tmp_path / "notes.tmp", tmp_path / ".x.tmp"]
    for p in keep:
        p.write_text("x")
    assert storage.remove_temporaries(str(tmp_path)) == [str(orphan)]
    assert sorted(tmp_path.rglob("*")) == sorted([*keep, tmp_path / "ingest"])
    assert storage.remove_temporaries("memory://nothing-to-clean") == []


def test_run_dir_lock_refuses_a_second_run_and_survives_restart(tmp_path):
    """One live run per directory: resuming deletes stray temporaries, which must not be a live run's."""
    run_dir = str(tmp_path / "runs" / "r")
    with storage.run_dir_lock(run_dir):
        busy = pytest.raises(storage.RunDirBusy, match=r"in use by a running winnow \(pid \d+\)")
        with busy, storage.run_dir_lock(run_dir):
            pass
        storage.remove_tree(run_dir)  # what --restart does: the lock lives beside the directory
        with pytest.raises(storage.RunDirBusy), storage.run_dir_lock(run_dir):
            pass
    with storage.run_dir_lock(run_dir):  # released when the run ends
        pass
