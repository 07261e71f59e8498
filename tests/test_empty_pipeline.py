"""Zero documents is an outcome, not a crash: through the real `winnow run`, an empty source and a
policy that drops everything both end with exit 0, a reconciling ledger of zeros, empty outputs
with the right columns and one line saying where the documents ran out. A rerun says each stage
was skipped instead of reprinting its old timing as if it had just run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml

WINNOW = str(Path(sys.executable).parent / "winnow")
DOCUMENT_STAGES = ["ingest", "exact_dedup", "filter", "near_dedup"]
STAGES = [*DOCUMENT_STAGES, "tokenize"]
# A policy that drops every short document (Gopher's minimum word count), without model downloads.
DROP_SHORT_POLICY = {
    "version": 1,
    "categories": {
        "sexual_minors": {
            "detectors": ["terms:sexual_minors"],
            "threshold": 0.5,
            "action": "drop",
            "applies_to": ["pretrain", "runtime"],
        },
        "low_quality": {
            "detectors": ["quality"],
            "threshold": 0.5,
            "action": "drop",
            "applies_to": ["pretrain"],
        },
    },
    "detectors": {"terms": {}, "quality": {}},
}


def _config(tmp_path: Path, source: Path) -> Path:
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(DROP_SHORT_POLICY))
    cfg = {
        "name": "empty",
        "stages": STAGES,
        "ingest": {
            "sources": [{"uri": str(source), "format": "jsonl"}],
            "cache_dir": str(tmp_path / "cache"),
        },
        "filter": {"policy": str(policy)},
        "tokenize": {"seq_len": 32, "tokenizer": {"vocab_size": 300}},
        "ray": {"num_cpus": 1},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _winnow_run(config: Path, run_dir: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [WINNOW, "run", str(config), "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def _assert_clean(proc: subprocess.CompletedProcess) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Traceback" not in output


def _assert_zero_ledger_from(run_dir: Path, first_empty: str) -> dict:
    ledger = json.loads((run_dir / "stats.json").read_text())
    assert ledger["reconciles"] and ledger["documents_out"] == 0
    stages = {s["name"]: s for s in ledger["stages"]}
    assert list(stages) == STAGES
    for name in STAGES[STAGES.index(first_empty) + 1 :]:
        assert stages[name]["input"] == 0, name
    assert stages["tokenize"]["tokens"] == 0
    assert [p.name for p in (run_dir / "tokens").iterdir()] == ["_SUCCESS"]  # the marker, no dataset
    return stages


def _assert_empty_parts_keep_their_columns(run_dir: Path, stages: list[str]) -> None:
    for name in stages:
        parts = sorted((run_dir / name).glob("part-*.parquet"))
        assert parts, name
        for part in parts:
            table = pq.read_table(part)
            assert table.num_rows == 0 and {"id", "text", "source"} <= set(table.column_names), name
    filtered = pq.read_schema(next((run_dir / "near_dedup").glob("part-*.parquet")))
    assert "action" in filtered.names  # the filter's columns survive into the next stage


def test_run_whose_only_source_is_empty_ends_cleanly_and_reruns_as_skipped(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    config, run_dir = _config(tmp_path, empty), tmp_path / "run"

    first = _winnow_run(config, run_dir)
    _assert_clean(first)
    assert "no documents left after ingest; nothing to tokenize" in first.stdout
    _assert_zero_ledger_from(run_dir, "ingest")
    _assert_empty_parts_keep_their_columns(run_dir, DOCUMENT_STAGES)
    assert (run_dir / "report.html").stat().st_size > 0  # the report reads empty parts too

    again = _winnow_run(config, run_dir)
    _assert_clean(again)
    for name in STAGES:
        assert f"  {name}: skipped (already done)" in again.stdout
        assert not re.search(rf"^\s+{name}\s+in\s", again.stdout, re.MULTILINE), again.stdout


def test_run_whose_filter_drops_everything_ends_cleanly_with_progress(tmp_path):
    source = tmp_path / "short.jsonl"
    source.write_text("".join(json.dumps({"text": f"a short note number {i}"}) + "\n" for i in range(3)))
    run_dir = tmp_path / "run"

    proc = _winnow_run(_config(tmp_path, source), run_dir, WINNOW_PROGRESS_EVERY="0.1")
    _assert_clean(proc)
    assert "no documents left after filter; nothing to tokenize" in proc.stdout
    stages = _assert_zero_ledger_from(run_dir, "filter")
    assert stages["filter"]["removed"] == {"low_quality": 3}
    assert pq.read_table(run_dir / "rejected" / "filter").num_rows == 3
    _assert_empty_parts_keep_their_columns(run_dir, ["filter", "near_dedup"])
    # Progress on stderr while the stage ran (parts done / total, documents so far), not on stdout.
    assert re.search(r"^  filter: 1/1 parts, 3 documents, \d+s$", proc.stderr, re.MULTILINE), proc.stderr
    assert "filter: 1/1 parts" not in proc.stdout
