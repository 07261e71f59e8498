"""`winnow dedup` and the dedup library take zero documents: empty outputs with their columns, zeros
in the stats, never `concat_tables([])`. Output files follow the umask like every other writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dedup import DedupConfig, LocalExecutor, dedup_blocks, run_exact, run_near

WINNOW = str(Path(sys.executable).parent / "winnow")


def _run_dedup_cli(tmp_path: Path, inputs: list[Path], umask: int) -> subprocess.CompletedProcess:
    config = tmp_path / "dedup.yaml"
    config.write_text("use_ray: false\n")
    return subprocess.run(
        [WINNOW, "dedup", *map(str, inputs), "-o", str(tmp_path / "out"), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(umask),
    )


def test_dedup_cli_on_empty_files_writes_empty_outputs_with_umask_modes(tmp_path):
    empty_jsonl = tmp_path / "empty.jsonl"
    empty_jsonl.write_text("\n\n")  # blank lines only: zero documents
    empty_parquet = tmp_path / "empty.parquet"
    pq.write_table(
        pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string()), "lang": []}),
        empty_parquet,
    )

    proc = _run_dedup_cli(tmp_path, [empty_jsonl, empty_parquet], umask=0o027)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    out = tmp_path / "out"
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["documents_in"], stats["kept"], stats["removed_exact"], stats["removed_near"]) == (
        0,
        0,
        0,
        0,
    )
    # One kept and one rejected part per input file, each with its input's columns.
    kept = sorted((out / "kept").glob("part-*.parquet"))
    rejected = sorted((out / "rejected").glob("part-*.parquet"))
    assert len(kept) == len(rejected) == 2
    assert "lang" in pq.read_schema(kept[1]).names
    for part in kept + rejected:
        assert pq.read_table(part).num_rows == 0 and {"id", "text"} <= set(pq.read_schema(part).names)
    assert {"stage", "reason", "cluster_id", "kept_id"} <= set(pq.read_schema(rejected[0]).names)
    assert pq.read_table(out / "clusters.parquet").num_rows == 0
    written = [*kept, *rejected, out / "clusters.parquet", out / "stats.json"]
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o640)}  # 0666 & ~027, not mkstemp's 0600


def test_dedup_library_with_no_blocks_decides_nothing():
    cfg = DedupConfig(use_ray=False, num_partitions=3)
    for result in (
        run_exact([], cfg, LocalExecutor()),
        run_near([], cfg, LocalExecutor()),
        dedup_blocks([], cfg),
    ):
        assert result.removed.num_rows == 0 and result.clusters.num_rows == 0
        assert "id" in result.removed.column_names and "members" in result.clusters.column_names


def test_dedup_library_with_empty_blocks_decides_nothing():
    empty = pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    result = dedup_blocks([empty, empty], DedupConfig(use_ray=False, num_partitions=2))
    assert result.removed.num_rows == 0 and result.clusters.num_rows == 0


def test_dedup_cli_without_input_files_is_one_error_line(tmp_path):
    (tmp_path / "nothing").mkdir()
    for inputs, needle in (
        ([tmp_path / "missing.jsonl"], "missing.jsonl not found"),
        ([tmp_path / "nothing"], "no .jsonl or .parquet file"),
    ):
        proc = _run_dedup_cli(tmp_path, inputs, umask=0o022)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
        assert [x for x in proc.stderr.splitlines() if x.startswith("error:")] == [
            next(x for x in proc.stderr.splitlines() if needle in x)
        ]
