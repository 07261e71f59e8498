"""The ingest stage on Ray: bad input of every kind ends in the ledger, the run goes on, resume works."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.config import parse_config
from pipeline.layout import StagePaths
from pipeline.runner import run_pipeline
from tests.http_fixtures import Fault, serve_directory

GOOD_LINE = json.dumps({"text": "A perfectly ordinary document about rivers and the sea. " * 30})


def _lines(n: int, prefix: str) -> bytes:
    rows = [json.dumps({"id": f"{prefix}-{i}", "text": f"{prefix} document {i}. " * 40}) for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture()
def bad_corpus(tmp_path: Path, shared_data: Path) -> Path:
    root = tmp_path / "srv"
    root.mkdir()
    whole = gzip.compress(_lines(50, "gz"), mtime=0)
    (root / "truncated.jsonl.gz").write_bytes(whole[: len(whole) * 2 // 3])
    warc = (shared_data / "web/warc/dolma_sample-0000.warc.gz").read_bytes()
    (root / "cut.warc.gz").write_bytes(warc[: len(warc) // 2])
    (root / "invalid_utf8.jsonl").write_bytes(
        GOOD_LINE.encode() + b'\n{"text": "bad bytes \xff\xfe here"}\n' + GOOD_LINE.encode() + b"\n"
    )
    (root / "malformed.jsonl").write_bytes(GOOD_LINE.encode() + b'\n{"text": "no end\n[1, 2\n' + b"\n")
    (root / "empty.jsonl").write_bytes(b"")
    (root / "flaky.jsonl").write_bytes(_lines(5, "flaky"))
    (root / "dropped.jsonl").write_bytes(_lines(400, "dropped"))
    return root


def _counts(ledger: dict) -> list[tuple]:
    return [(s["name"], s["input"], s["kept"], s["removed"], s["quarantined"]) for s in ledger["stages"]]


def _config(urls: list[str], cache: Path) -> dict:
    return {
        "name": "bad",
        "stages": ["ingest"],
        "ingest": {
            "sources": [{"uri": u, "format": "jsonl" if ".jsonl" in u else None} for u in urls],
            "cache_dir": str(cache),
            "retries": 3,
        },
    }


def test_bad_input_is_quarantined_and_nothing_is_lost(ray_session, bad_corpus, tmp_path):
    faults = {
        "flaky.jsonl": Fault(status=500, times=2),
        "dropped.jsonl": Fault(drop_after=5000, times=1),
    }
    names = [*sorted(p.name for p in bad_corpus.iterdir()), "missing.jsonl"]
    with serve_directory(bad_corpus, faults) as server:
        urls = [f"{server.url}/{n}" for n in names]
        cfg = parse_config(_config(urls, tmp_path / "cache"))
        result = run_pipeline(cfg, str(tmp_path / "run"))
        # The 500s were retried, the dropped connection resumed with a Range request, not restarted.
        assert [r.status for r in server.requests_for("flaky.jsonl")][-1] == 200
        dropped = server.requests_for("dropped.jsonl")
        assert any(r.range for r in dropped[1:]), dropped
    stats = result.stages[0]
    assert result.ledger["reconciles"]
    assert stats.input == stats.kept + sum(stats.removed.values()) + stats.quarantined
    paths = StagePaths(str(tmp_path / "run"), "ingest")
    quarantine = pq.read_table(paths.quarantine_dir).to_pylist()
    errors = {os.path.basename(q["source"]): q["error"] for q in quarantine}
    assert "missing.jsonl" in errors and "404" in errors["missing.jsonl"]
    assert "truncated.jsonl.gz" in errors
    assert "cut.warc.gz" in errors
    assert "invalid_utf8.jsonl" in errors
    assert "malformed.jsonl" in errors
    kept = pq.read_table(paths.out_dir)
    by_source: dict[str, int] = {}
    for s in kept["source"].to_pylist():
        by_source[os.path.basename(s)] = by_source.get(os.path.basename(s), 0) + 1
    assert by_source["flaky.jsonl"] == 5
    assert by_source["dropped.jsonl"] == 400
    assert by_source["invalid_utf8.jsonl"] == 2 and by_source["malformed.jsonl"] == 1
    assert 0 < by_source["truncated.jsonl.gz"] < 50  # what was readable before the cut is kept
    assert by_source["cut.warc.gz"] > 0
    assert "empty.jsonl" not in by_source


def test_rerun_skips_finished_parts_and_downloads_nothing(ray_session, tmp_path, repo_root):
    sample = repo_root / "data" / "sample"
    with serve_directory(sample) as server:
        urls = [f"{server.url}/{n}" for n in ["broken.jsonl", "cc_en_head-0091.jsonl", "gutenberg-31251.txt"]]
        raw = _config(urls, tmp_path / "cache")
        raw["ingest"]["sources"][2]["format"] = "text"
        cfg = parse_config(raw)
        run_dir = str(tmp_path / "run")
        first = run_pipeline(cfg, run_dir)
        gets = len(server.requests)
        paths = StagePaths(run_dir, "ingest")
        parts = paths.output_parts()
        before = {p: Path(p).read_bytes() for p in parts}
        mtimes = {p: os.stat(p).st_mtime_ns for p in parts}
        # Simulate a run killed in the middle of the stage: no _SUCCESS, one part unfinished.
        os.remove(paths.success)
        os.remove(paths.part_stats("part-00001"))
        os.remove(paths.part("part-00001-0000"))
        second = run_pipeline(cfg, run_dir)
        assert len(server.requests) == gets  # the cache served the re-read part
    assert _counts(second.ledger) == _counts(first.ledger)
    assert {p: Path(p).read_bytes() for p in parts} == before
    assert os.stat(parts[0]).st_mtime_ns == mtimes[parts[0]]  # finished parts were not redone
    assert os.stat(parts[2]).st_mtime_ns == mtimes[parts[2]]


def test_a_run_dir_from_another_config_is_refused(ray_session, tmp_path, repo_root):
    from pipeline.config import ConfigError

    src = str(repo_root / "data" / "sample" / "cc_en_head-0091.jsonl")
    cfg = parse_config(
        {"stages": ["ingest"], "ingest": {"sources": [{"uri": src}], "cache_dir": str(tmp_path)}}
    )
    run_pipeline(cfg, str(tmp_path / "run"))
    other = parse_config(
        {
            "stages": ["ingest"],
            "ingest": {"sources": [{"uri": src}], "cache_dir": str(tmp_path), "retries": 1},
        }
    )
    with pytest.raises(ConfigError, match="different config"):
        run_pipeline(other, str(tmp_path / "run"))
    assert run_pipeline(other, str(tmp_path / "run"), restart=True).ledger["documents_in"] == 10


def test_a_big_source_is_cut_into_parts_in_order(ray_session, tmp_path, repo_root):
    src = str(repo_root / "data" / "sample" / "documents.jsonl.gz")
    raw = {"stages": ["ingest"], "ingest": {"sources": [{"uri": src, "format": "jsonl"}], "part_rows": 100}}
    raw["ingest"]["batch_rows"] = 50
    raw["ingest"]["cache_dir"] = str(tmp_path)
    result = run_pipeline(parse_config(raw), str(tmp_path / "run"))
    parts = StagePaths(str(tmp_path / "run"), "ingest").output_parts()
    assert len(parts) > 3
    positions = [p for part in parts for p in pq.read_table(part)["position"].to_pylist()]
    assert positions == sorted(positions) and len(positions) == result.stages[0].kept
    assert all(pq.read_metadata(p).num_rows <= 100 for p in parts)
