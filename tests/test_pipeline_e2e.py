"""End to end: the bundled sample served over local HTTP, through every stage, into a reconciling ledger."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.config import parse_config
from pipeline.layout import StagePaths
from pipeline.ledger import funnel_table
from pipeline.runner import run_pipeline
from tests.golden_run import GOLDEN, summarize
from tests.http_fixtures import serve_directory
from tests.test_stage_schemas import assert_one_schema, every_parquet_folder
from tokenization.pack import SCHEMA as TOKENS_SCHEMA

SAMPLE_FILES = [
    ("resiliparse_CC-MAIN-2020-34_excerpt.warc.gz", None),
    ("dolma_sample-0000.warc.gz", None),
    ("cc_whirlwind.warc.wet.gz", None),
    ("documents.jsonl.gz", "jsonl"),
    ("cc_en_head-0091.jsonl", "jsonl"),
    ("provided_documents_000.json.gz", "jsonl"),
    ("broken.jsonl", "jsonl"),
    ("gutenberg-31251.txt", "text"),
]


def sample_config(repo_root: Path, base_url: str, cache: Path, **overrides) -> dict:
    default = yaml.safe_load((repo_root / "configs" / "default.yaml").read_text())
    default["ingest"]["sources"] = [
        {"uri": f"{base_url}/{name}", **({"format": fmt} if fmt else {})} for name, fmt in SAMPLE_FILES
    ]
    default["ingest"]["cache_dir"] = str(cache)
    default["filter"]["policy"] = str(repo_root / "configs" / "policy.yaml")
    default["tokenize"].update(seq_len=128, shard_rows=500)
    default["tokenize"]["tokenizer"] = {"vocab_size": 1024}
    for key, value in overrides.items():
        default[key] = {**default.get(key, {}), **value}
    return default


@pytest.fixture(scope="module")
def sample_run(ray_session, repo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    with serve_directory(repo_root / "data" / "sample") as server:
        cfg = parse_config(sample_config(repo_root, server.url, tmp / "cache"), base_dir=str(repo_root))
        run_dir = str(tmp / "run")
        result = run_pipeline(cfg, run_dir)
        downloads = len(server.requests)
        said: list[str] = []
        reported: list[str] = []
        rerun = run_pipeline(cfg, run_dir, say=said.append, on_stage=lambda s: reported.append(s.name))
        downloads_after_rerun = len(server.requests)
    return {
        "result": result,
        "rerun": rerun,
        "rerun_messages": (said, reported),
        "run_dir": run_dir,
        "downloads": (downloads, downloads_after_rerun),
        "server_url": server.url,
        "tmp": tmp,
    }


def test_every_stage_does_real_work_and_the_ledger_reconciles(sample_run):
    ledger = sample_run["result"].ledger
    print(funnel_table(ledger))
    assert ledger["reconciles"]
    stages = {s["name"]: s for s in ledger["stages"]}
    assert list(stages) == ["ingest", "exact_dedup", "filter", "near_dedup", "tokenize"]
    for s in ledger["stages"]:
        assert s["input"] == s["kept"] + sum(s["removed"].values()) + s["quarantined"], s["name"]
    assert stages["ingest"]["quarantined"] >= 2  # the cut line and the invalid UTF-8 line of broken.jsonl
    assert stages["exact_dedup"]["removed"].get("exact_duplicate", 0) >= 20
    assert sum(stages["filter"]["removed"].values()) >= 20
    assert stages["near_dedup"]["removed"].get("near_duplicate", 0) >= 5
    assert stages["tokenize"]["tokens"] > 100_000
    # On disk: the ledger file, removed documents with stage and reason, quarantine with errors.
    on_disk = json.loads(Path(sample_run["run_dir"], "stats.json").read_text())
    assert on_disk["documents_in"] == ledger["documents_in"]
    for name in ["exact_dedup", "filter", "near_dedup"]:
        removed = pq.read_table(StagePaths(sample_run["run_dir"], name).rejected_dir)
        assert set(removed["stage"].to_pylist()) == {name}
        assert removed.num_rows == sum(stages[name]["removed"].values())
        assert all(removed["reason"].to_pylist())
    q = pq.read_table(StagePaths(sample_run["run_dir"], "ingest").quarantine_dir)
    assert all(q["error"].to_pylist()) and q.num_rows == stages["ingest"]["quarantined"]


def test_duplicates_removed_keep_cluster_and_kept_id(sample_run):
    removed = pq.read_table(StagePaths(sample_run["run_dir"], "exact_dedup").rejected_dir)
    kept_ids = set(pq.read_table(StagePaths(sample_run["run_dir"], "exact_dedup").out_dir)["id"].to_pylist())
    assert set(removed["kept_id"].to_pylist()) <= kept_ids
    clusters = pq.read_table(Path(sample_run["run_dir"], "clusters", "exact_dedup.parquet"))
    assert clusters.num_rows > 0 and min(clusters["size"].to_pylist()) >= 2


def test_tokens_follow_the_contract(sample_run):
    tokens = Path(sample_run["run_dir"], "tokens")
    manifest = json.loads((tokens / "manifest.json").read_text())
    assert (tokens / "tokenizer.json").exists()
    shard = tokens / manifest["splits"]["train"]["shards"][0]["path"]
    table = ipc.open_stream(pa.memory_map(str(shard))).read_all()
    assert set(len(r) for r in table["input_ids"].to_pylist()) == {manifest["seq_len"] + 1}


def test_every_output_folder_reads_as_one_table(sample_run):
    """Each folder of parts (stage outputs, rejected/, quarantine/, clusters/) has one schema (issue 16)."""
    run_dir = Path(sample_run["run_dir"])
    folders = every_parquet_folder(run_dir)
    names = {f.relative_to(run_dir).as_posix() for f in folders}
    assert {"ingest", "exact_dedup", "filter", "near_dedup", "rejected/filter", "clusters"} <= names
    for folder in folders:
        tables = assert_one_schema(folder)
        assert pads.dataset(str(folder)).to_table().num_rows == sum(t.num_rows for t in tables)
    for split in ("train", "val"):
        shards = sorted((run_dir / "tokens" / split).glob("*.arrow"))
        for shard in shards:
            assert ipc.open_stream(pa.memory_map(str(shard))).schema.equals(TOKENS_SCHEMA), shard


def test_rerun_skips_everything_and_downloads_nothing(sample_run):
    first, second = sample_run["downloads"]
    assert first >= len(SAMPLE_FILES) and second == first
    assert all(s.extra.get("resumed") for s in sample_run["rerun"].stages)
    # Announced as skipped, never reported as if they had just run (with their old timings).
    said, reported = sample_run["rerun_messages"]
    assert said == [f"  {s.name}: skipped (already done)" for s in sample_run["rerun"].stages]
    assert reported == []


def test_output_bytes_do_not_depend_on_parallelism(sample_run, repo_root):
    tmp = sample_run["tmp"]
    with serve_directory(repo_root / "data" / "sample") as server:
        raw = sample_config(repo_root, server.url, tmp / "cache")
        raw["near_dedup"]["num_partitions"] = 3
        raw["tokenize"]["num_workers"] = 1
        raw["filter"]["actors"] = 1
        # Same sources under the same URIs: ids depend on the URI, so keep the first server's spelling.
        for src, first in zip(raw["ingest"]["sources"], SAMPLE_FILES, strict=True):
            src["uri"] = f"{sample_run['server_url']}/{first[0]}"
        cfg = parse_config(raw, base_dir=str(repo_root))
        other = str(tmp / "run-other")
        run_pipeline(cfg, other)

    def files(root: str) -> dict[str, bytes]:
        out = {}
        for dirpath, _, names in os.walk(root):
            for n in names:
                if n.endswith((".parquet", ".arrow")) or n == "manifest.json":
                    p = os.path.join(dirpath, n)
                    out[os.path.relpath(p, root)] = Path(p).read_bytes()
        return out

    a, b = files(sample_run["run_dir"]), files(other)
    assert a.keys() == b.keys()
    differing = [k for k in a if a[k] != b[k] and not k.endswith("manifest.json")]
    assert differing == []


def test_sample_run_matches_its_golden_digests(sample_run):
    """What each stage keeps, removes and quarantines, and why, equals the recorded run
    (`tests/fixtures/golden/sample_run.json`, written by the code before issue 16's moves): moving code
    between rooms changes no output. A change meant to change outputs rewrites the file with
    WINNOW_WRITE_GOLDEN=1 and says so in its commit."""
    summary = summarize(sample_run["run_dir"])
    if os.environ.get("WINNOW_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert summary["ledger"] == golden["ledger"]
    assert summary["folders"].keys() == golden["folders"].keys()
    changed = [k for k in golden["folders"] if summary["folders"][k] != golden["folders"][k]]
    assert changed == []
