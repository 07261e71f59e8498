"""The ingest stage on Ray: a bad line costs one record, an unread remainder shows in the ledger,
and a resumed run removes the temporaries a killed one left (issue 12, defects 5 and 10)."""

from __future__ import annotations

import gzip
import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.config import parse_config
from pipeline.layout import StagePaths
from pipeline.runner import run_pipeline
from tests.http_fixtures import serve_directory


def _good(n: int, prefix: str) -> list[str]:
    return [json.dumps({"text": f"{prefix} document {i} about rivers and the sea."}) for i in range(n)]


def _config(sources: list[str], cache: Path) -> dict:
    return {
        "name": "loss",
        "stages": ["ingest"],
        "ingest": {"sources": [{"uri": s} for s in sources], "cache_dir": str(cache), "retries": 0},
    }


def test_deeply_nested_line_costs_one_record_not_the_rest_of_the_file(ray_session, tmp_path: Path) -> None:
    lines = [*_good(3, "before"), "[" * 5000, *_good(4, "after")]
    (tmp_path / "deep.jsonl").write_text("\n".join(lines) + "\n")
    result = run_pipeline(
        parse_config(_config([str(tmp_path / "deep.jsonl")], tmp_path / "c")), str(tmp_path / "r")
    )
    stats = result.stages[0]
    assert (stats.input, stats.kept, stats.quarantined) == (8, 7, 1)
    assert stats.extra["sources_incomplete"] == 0 and result.ledger["reconciles"]
    paths = StagePaths(str(tmp_path / "r"), "ingest")
    kept = pq.read_table(paths.out_dir, columns=["text"])["text"].to_pylist()
    assert [t.split(" document")[0] for t in kept] == ["before"] * 3 + ["after"] * 4
    (q,) = pq.read_table(paths.quarantine_dir).to_pylist()
    assert q["position"] == 3 and q["error"] == "line 4: JSON nested too deeply to parse"


def test_unread_remainders_are_counted_in_the_ledger_and_shown_by_stats(ray_session, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    rng = random.Random(1)
    body = "\n".join(json.dumps({"text": rng.randbytes(400).hex()}) for _ in range(300)) + "\n"
    corrupt = bytearray(b"".join(gzip.compress(body.encode(), mtime=0) for _ in range(10)))
    corrupt[len(corrupt) // 3 : len(corrupt) // 3 + 64] = b"\x00" * 64
    (site / "corrupt.jsonl.gz").write_bytes(bytes(corrupt))
    whole = gzip.compress("\n".join(_good(50, "cut")).encode(), mtime=0)
    (site / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (site / "fine.jsonl").write_text("\n".join(_good(5, "fine")) + "\n")
    run_dir = tmp_path / "r"
    with serve_directory(site) as server:
        sources = [str(site / "corrupt.jsonl.gz"), str(site / "cut.jsonl.gz"), str(site / "fine.jsonl")]
        cfg = parse_config(_config([*sources, f"{server.url}/missing.jsonl"], tmp_path / "c"))
        result = run_pipeline(cfg, str(run_dir))
    stats = result.stages[0]
    assert stats.extra["sources_incomplete"] == 3  # corrupt, cut, and the one that could not be fetched
    assert 0 < stats.extra["bytes_unread"] < len(corrupt)
    ledger = json.loads((run_dir / "stats.json").read_text())
    assert ledger["reconciles"] and ledger["sources_incomplete"] == 3
    assert ledger["bytes_unread"] == stats.extra["bytes_unread"]
    errors = [
        q["error"] for q in pq.read_table(StagePaths(str(run_dir), "ingest").quarantine_dir).to_pylist()
    ]
    assert sum(e.startswith("unread_remainder: ") for e in errors) == 1
    assert sum(e.startswith("source_truncated: ") for e in errors) == 1
    out = subprocess.run(
        [sys.executable, "-m", "winnow.cli", "stats", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"not read to the end: 3 source(s), {ledger['bytes_unread']:,} bytes unread" in out.stdout


_KILLED_WRITER = """
import os, signal, sys
import pyarrow as pa
from pipeline import storage
from pipeline.schema import DOCUMENT_SCHEMA
w = storage.AtomicParquetWriter(sys.argv[1], DOCUMENT_SCHEMA)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_resume_removes_temporaries_of_unfinished_parts(ray_session, tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("\n".join(_good(5, "a")) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(_good(5, "b")) + "\n")
    cfg = parse_config(_config([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")], tmp_path / "c"))
    run_dir = tmp_path / "r"
    run_pipeline(cfg, str(run_dir))
    paths = StagePaths(str(run_dir), "ingest")
    # As if the run had been killed while part 1 was being written: no _SUCCESS, no part entry,
    # and the temporary of the part's Parquet file left behind by a process that died mid-write.
    Path(paths.success).unlink()
    Path(paths.part_stats("part-00001")).unlink()
    Path(paths.part("part-00001-0000")).unlink()
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, paths.part("part-00001-0000")], timeout=120, check=False
    )
    assert killed.returncode == -signal.SIGKILL
    (orphan,) = Path(paths.out_dir).glob(".part-00001-0000.parquet.*.tmp")
    result = run_pipeline(cfg, str(run_dir))
    assert not orphan.exists() and result.ledger["reconciles"] and result.stages[0].kept == 10
    assert sorted(p.name for p in Path(paths.out_dir).iterdir() if p.name.startswith(".")) == []
