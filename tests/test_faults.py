"""Faults: a worker node lost mid-stage, the driver killed mid-run, a document that makes a stage raise.

Each disturbed run is compared byte for byte with an undisturbed run of the same config. Runs that
need their own Ray (a multi-node `ray.cluster_utils.Cluster`, or `winnow run` as a process) happen in
subprocesses with a private RAY_TMPDIR, so the session's Ray instance and any other Ray on the
machine are untouched; this file is also that subprocess's entry point
(`python -m tests.test_faults node-kill ...`).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from scripts.cluster_test import diff_outputs, output_files, private_ray_env

REPO_ROOT = Path(__file__).resolve().parents[1]
MARKER = "WINNOW-TEST-RAISE-ON-THIS-DOCUMENT"
NUM_PARTS = 8
DOCS_PER_PART = 12


# ----------------------------------------------------------------------------- corpus, config, outputs


def write_corpus(root: Path, marker: bool = False) -> list[Path]:
    """Real Common Crawl documents from the bundled sample, spread over NUM_PARTS JSONL sources.

    Documents are repeated across parts, exactly and with a small edit, so both dedup stages remove some. With `marker`,
    one part also holds a document carrying MARKER, and one extra source holds only such a document
    (a one-row batch: the edge of the row-by-row retry).
    """
    root.mkdir(parents=True, exist_ok=True)
    with gzip.open(REPO_ROOT / "data" / "sample" / "documents.jsonl.gz", "rt", encoding="utf-8") as f:
        docs = [json.loads(line)["text"] for line in f][: NUM_PARTS * DOCS_PER_PART]
    paths = []
    for p in range(NUM_PARTS):
        chunk = docs[p * DOCS_PER_PART : (p + 1) * DOCS_PER_PART]
        if p > 0:
            chunk = [*chunk, docs[p - 1]]  # an exact duplicate of a document in an earlier part
        if p >= 2:
            chunk.append(docs[p - 2].replace(" the ", " a ", 1) + " (copy)")  # a near duplicate
        if marker and p == 3:
            chunk.insert(5, f"{chunk[5]}\n{MARKER}")
        path = root / f"part{p}.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in chunk), encoding="utf-8")
        paths.append(path)
    if marker:
        path = root / "part9-single.jsonl"
        path.write_text(json.dumps({"text": f"{docs[0][:500]} {MARKER}"}) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def run_config(sources: list[Path], cache: Path) -> dict:
    return {
        "name": "faults",
        "stages": ["ingest", "exact_dedup", "filter", "near_dedup", "tokenize"],
        "ingest": {"sources": [{"uri": str(p), "format": "jsonl"} for p in sources], "cache_dir": str(cache)},
        "filter": {"policy": str(REPO_ROOT / "configs" / "policy.yaml"), "batch_rows": 8},
        "near_dedup": {"minhash": {"threshold": 0.8, "num_perm": 128, "ngram": 5}},
        "tokenize": {"tokenizer": {"vocab_size": 512}, "seq_len": 64, "val_fraction": 0.1, "seed": 0},
    }


def write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def assert_same_outputs(run_dir: str | Path, reference: str | Path) -> None:
    got, want = output_files(run_dir), output_files(reference)
    assert any(k.startswith("rejected/") for k in want) and any(k.startswith("tokens/") for k in want)
    assert diff_outputs(got, want) == []


def assert_nothing_lost_or_duplicated(run_dir: str | Path) -> None:
    """The ledger reconciles, and every ingested id ends in exactly one place per stage."""
    ledger = json.loads(Path(run_dir, "stats.json").read_text())
    assert ledger["reconciles"]
    ingested = pq.read_table(Path(run_dir, "ingest"), columns=["id"])["id"].to_pylist()
    assert len(ingested) == len(set(ingested))
    flow = set(ingested)
    for stage in ["exact_dedup", "filter", "near_dedup"]:
        kept = pq.read_table(Path(run_dir, stage), columns=["id"])["id"].to_pylist()
        gone = []
        for sub in ["rejected", "quarantine"]:
            d = Path(run_dir, sub, stage)
            if d.is_dir() and any(d.glob("*.parquet")):
                gone += pq.read_table(d, columns=["id"])["id"].to_pylist()
        assert len(kept) + len(gone) == len(set(kept) | set(gone)), f"{stage}: an id appears twice"
        assert set(kept) | set(gone) == flow, f"{stage}: ids lost or invented"
        flow = set(kept)


def end_process_group(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """Wait for the group we started (the driver and the Ray it spawned) to go; SIGKILL what stays."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture()
def ray_tmp():
    """A short private RAY_TMPDIR (Ray's unix socket paths must stay under ~107 bytes), removed after."""
    path = Path(tempfile.mkdtemp(prefix="wf-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def fault_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    sources = write_corpus(tmp / "corpus")
    config = write_config(tmp / "faults.yaml", run_config(sources, tmp / "cache"))
    return {"tmp": tmp, "config": config}


@pytest.fixture(scope="module")
def reference_run(ray_session, fault_setup):
    """The undisturbed run every disturbed one must equal, byte for byte."""
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline

    run_dir = fault_setup["tmp"] / "reference"
    result = run_pipeline(load_config(fault_setup["config"]), str(run_dir))
    assert result.ledger["reconciles"]
    removed = {s.name: sum(s.removed.values()) for s in result.stages}
    assert removed["exact_dedup"] >= NUM_PARTS - 1 and removed["near_dedup"] >= 1 and removed["filter"] >= 1
    return run_dir


# ----------------------------------------------------------------------------- a worker node lost


def test_worker_node_killed_mid_stage_changes_nothing(fault_setup, reference_run, tmp_path, ray_tmp):
    """Two 1-CPU worker nodes; one is killed (SIGKILL, no goodbye) while the filter's actors work."""
    run_dir, info_path = tmp_path / "run", tmp_path / "info.json"
    cmd = [sys.executable, "-m", "tests.test_faults", "node-kill", str(fault_setup["config"]), str(run_dir)]
    proc = subprocess.Popen(
        [*cmd, str(info_path), "filter"],
        cwd=REPO_ROOT,
        env=private_ray_env(tmp_path, ray_tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=240)
    finally:
        end_process_group(proc)
    assert proc.returncode == 0, out[-6000:]
    info = json.loads(info_path.read_text())
    # The kill really landed mid-stage: some parts finished, not all, and no _SUCCESS yet.
    assert info["killed"] and not info["stage_done_at_kill"], info
    assert 0 < info["parts_done_at_kill"] < NUM_PARTS, info
    assert info["alive_nodes_after"] == 2, info  # head + the surviving worker
    assert_nothing_lost_or_duplicated(run_dir)
    assert_same_outputs(run_dir, reference_run)


@dataclass
class NodeKillRun:
    config: str
    run_dir: str
    info_path: str
    stage: str

    def main(self) -> int:
        """Subprocess body: a head (0 CPUs, the driver) and two 1-CPU workers; kill one mid-stage."""
        import ray
        from ray.cluster_utils import Cluster

        from pipeline.config import load_config
        from pipeline.runner import run_pipeline

        fast_death = {
            "health_check_initial_delay_ms": 0,
            "health_check_period_ms": 500,
            "health_check_timeout_ms": 500,
            "health_check_failure_threshold": 3,
        }
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "_system_config": fast_death})
        workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
        cluster.wait_for_nodes()
        cluster.connect()
        info: dict = {"killed": False}
        stop = threading.Event()
        thread = threading.Thread(
            target=self._kill_when_busy, args=(cluster, workers[1], info, stop), daemon=True
        )
        thread.start()
        try:
            result = run_pipeline(load_config(self.config), self.run_dir)
        finally:
            stop.set()
            thread.join()
        info["reconciles"] = bool(result.ledger["reconciles"])
        info["alive_nodes_after"] = sum(1 for n in ray.nodes() if n["Alive"])
        Path(self.info_path).write_text(json.dumps(info))
        ray.shutdown()
        cluster.shutdown()
        return 0

    def _kill_when_busy(self, cluster, node, info: dict, stop: threading.Event) -> None:
        parts = Path(self.run_dir, self.stage, "_parts")
        while not stop.is_set():
            done = len(list(parts.glob("*.json"))) if parts.is_dir() else 0
            if done:
                info.update(
                    parts_done_at_kill=done,
                    stage_done_at_kill=Path(self.run_dir, self.stage, "_SUCCESS").exists(),
                )
                cluster.remove_node(node, allow_graceful=False)
                info["killed"] = True
                return
            time.sleep(0.02)


# ----------------------------------------------------------------------------- the driver killed


def test_driver_killed_mid_run_resumes_and_skips_finished_work(fault_setup, reference_run, tmp_path, ray_tmp):
    run_dir = tmp_path / "run"
    env = private_ray_env(tmp_path, ray_tmp)
    cmd = [sys.executable, "-m", "winnow.cli", "run", str(fault_setup["config"]), "--run-dir", str(run_dir)]
    cmd.append("--no-report")
    proc = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    filter_parts = run_dir / "filter" / "_parts"
    try:
        deadline = time.monotonic() + 180
        while not (filter_parts.is_dir() and any(filter_parts.glob("*.json"))):
            assert proc.poll() is None, "winnow run ended before it could be killed"
            assert time.monotonic() < deadline, "no filter part appeared in time"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        end_process_group(proc)
    assert not (run_dir / "filter" / "_SUCCESS").exists(), "the kill came too late to interrupt the filter"
    finished_stages = [s for s in ["ingest", "exact_dedup"] if (run_dir / s / "_SUCCESS").exists()]
    assert finished_stages == ["ingest", "exact_dedup"]
    before = {
        p: p.stat().st_mtime_ns for s in finished_stages for p in (run_dir / s).rglob("*") if p.is_file()
    }
    done_filter_parts = sorted(p.stem for p in filter_parts.glob("*.json"))
    before.update(
        {
            p: p.stat().st_mtime_ns
            for n in done_filter_parts
            for g in ("filter/**", "rejected/filter")
            for p in run_dir.glob(f"{g}/{n}.*")
        }
    )
    assert 0 < len(done_filter_parts) < NUM_PARTS

    rerun = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    # Finished stages and finished filter parts were not touched; everything else was completed.
    assert {p: p.stat().st_mtime_ns for p in before} == before
    ledger = json.loads((run_dir / "stats.json").read_text())
    resumed = {s["name"]: bool(s.get("resumed")) for s in ledger["stages"]}
    assert resumed == {
        "ingest": True,
        "exact_dedup": True,
        "filter": False,
        "near_dedup": False,
        "tokenize": False,
    }
    assert_nothing_lost_or_duplicated(run_dir)
    assert_same_outputs(run_dir, reference_run)


# ----------------------------------------------------------------------------- a document that raises


@dataclass(frozen=True)
class RaisingFilterFactory:
    """The real filter, made to raise on any batch holding MARKER (built inside each Ray actor)."""

    policy_path: str
    mode: str

    def __call__(self):
        from pipeline.stages.filtering import FilterFactory

        transform = FilterFactory(self.policy_path, self.mode)()

        def raising(table: pa.Table):
            if any(MARKER in t for t in table["text"].to_pylist()):
                raise ValueError(f"detector crashed on {MARKER}")
            return transform(table)

        return raising


def test_document_that_raises_is_quarantined_and_the_run_goes_on(ray_session, monkeypatch, request, tmp_path):
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline
    from pipeline.stages import filtering

    sources = write_corpus(tmp_path / "corpus", marker=True)
    config = write_config(tmp_path / "marker.yaml", run_config(sources, tmp_path / "cache"))
    monkeypatch.setattr(filtering, "FilterFactory", RaisingFilterFactory)
    # Ray workers cannot import this test module (pytest put tests/ on the path, not theirs): ship it by value.
    module = sys.modules[RaisingFilterFactory.__module__]
    ray_session.cloudpickle.register_pickle_by_value(module)
    request.addfinalizer(lambda: ray_session.cloudpickle.unregister_pickle_by_value(module))
    run_dir = tmp_path / "run"
    result = run_pipeline(load_config(config), str(run_dir))

    stages = {s.name: s for s in result.stages}
    assert result.ledger["reconciles"]
    assert stages["filter"].quarantined == 2  # the marked document inside a part, and the one-row part
    assert [s.name for s in result.stages][-1] == "tokenize" and stages["tokenize"].extra["tokens"] > 0
    quarantined = pq.read_table(run_dir / "quarantine" / "filter").to_pylist()
    ingested = pq.read_table(run_dir / "ingest").to_pylist()
    marked = {r["id"] for r in ingested if MARKER in r["text"]}
    assert {q["id"] for q in quarantined} == marked and len(marked) == 2
    for q in quarantined:
        assert q["stage"] == "filter" and "ValueError: detector crashed" in q["error"]
    # The marked part's other documents went through the filter as usual (kept or removed by policy).
    [part3_file] = (run_dir / "filter" / "_parts").glob("part-00003*.json")  # source 3 fits in one part
    part3 = json.loads(part3_file.read_text())
    assert part3["quarantined"] == 1 and part3["input"] >= DOCS_PER_PART - 5
    assert part3["kept"] + sum(part3["removed"].values()) == part3["input"] - 1
    assert_nothing_lost_or_duplicated(run_dir)


def test_tokenize_interrupted_resumes_to_the_same_tokens(
    ray_session, fault_setup, reference_run, tmp_path, monkeypatch
):
    """A tokenize stage that dies after its first appended chunk: the rerun keeps the chunks and the
    tokenizer already made (`.tokens.work/`) and ends with the undisturbed run's token files."""
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline
    from tokenization import to_dir

    appended = to_dir._append_chunk
    calls = []

    def dying(*args, **kwargs):
        appended(*args, **kwargs)
        calls.append(1)
        raise KeyboardInterrupt("killed after the first appended chunk")

    run_dir = tmp_path / "run"
    monkeypatch.setattr(to_dir, "_append_chunk", dying)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(load_config(fault_setup["config"]), str(run_dir))
    monkeypatch.setattr(to_dir, "_append_chunk", appended)

    def not_again(*args, **kwargs):
        raise AssertionError("the resumed tokenize trained its tokenizer again")

    monkeypatch.setattr(to_dir, "train_tokenizer", not_again)  # the first attempt's is reused
    work = run_dir / ".tokens.work"
    assert calls == [1] and (work / "progress.json").is_file() and (work / "tokenizer.json").is_file()
    assert not (run_dir / "tokens" / "_SUCCESS").exists()

    result = run_pipeline(load_config(fault_setup["config"]), str(run_dir))
    assert result.ledger["reconciles"] and not work.exists()
    ref, got = reference_run / "tokens", run_dir / "tokens"
    names = sorted(str(p.relative_to(ref)) for p in ref.rglob("*") if p.is_file() and p.name != "_SUCCESS")
    assert names and names == sorted(
        str(p.relative_to(got)) for p in got.rglob("*") if p.is_file() and p.name != "_SUCCESS"
    )
    for name in names:
        if name == "manifest.json":  # names its run directory (source_run)
            a, b = json.loads((ref / name).read_text()), json.loads((got / name).read_text())
            assert {**a, "source_run": None} == {**b, "source_run": None}
        else:
            assert (ref / name).read_bytes() == (got / name).read_bytes(), name


# ----------------------------------------------------------------------------- subprocess entry point


def main(argv: list[str]) -> int:
    if argv[:1] == ["node-kill"] and len(argv) == 5:
        return NodeKillRun(*argv[1:]).main()
    print("usage: python -m tests.test_faults node-kill CONFIG RUN_DIR INFO_JSON STAGE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
