"""The speed benchmarks' command lines: a user mistake (missing data, a bad number or name, a folder for
--out) is one `error:` line (or argparse's usage error) with exit status 2, never a traceback, and comes
before any work; a failed child is one `error:` line too. Everything runs `main(argv)` in this process,
with the data folders pointed at an empty tmp_path: no benchmark runs, nothing is written to
benchmarks/results."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _exit_lines(main, argv: list[str], capsys, code: int = 2) -> list[str]:
    """Run `main(argv)`: it must exit with `code`, without a traceback; its stderr lines."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == code, exc.value.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err.strip().splitlines()


def _one_error(main, argv: list[str], capsys, code: int = 2) -> str:
    """`main(argv)` exits with `code` after exactly one stderr line, an `error:` line; that line."""
    lines = _exit_lines(main, argv, capsys, code)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def _usage_error(main, argv: list[str], capsys, flag: str) -> str:
    """argparse's usage error for `flag` (exit 2): its error line."""
    lines = _exit_lines(main, argv, capsys)
    assert f"error: argument {flag}" in lines[-1], lines
    return lines[-1]


@pytest.fixture
def no_data(tmp_path, monkeypatch) -> Path:
    """Every data folder the speed benchmarks read points at an empty folder; their work folders too."""
    empty = tmp_path / "nodata"
    empty.mkdir()
    import benchmarks.corpus
    import benchmarks.dedup_data

    monkeypatch.setattr(benchmarks.corpus, "SHARED", empty)
    monkeypatch.setattr(benchmarks.dedup_data, "SHARED", empty)
    for name, attr, value in (
        ("check_latency", "DATA", empty),
        ("report_speed", "DATA", empty),
        ("report_speed", "WORK", tmp_path / "work"),
        ("serve_load", "DATA", empty),
        ("signature_speed", "DATA", empty),
        ("tokenize_speed", "DATA", empty / "clean_text"),
        ("tokenize_speed", "OUT", tmp_path / "out"),
        ("tokenize_speed", "WORK", tmp_path / "work"),
        ("dedup_speed", "OUT", tmp_path / "out"),
        ("dedup_speed", "RESULTS_FILE", tmp_path / "results.json"),
    ):
        monkeypatch.setattr(importlib.import_module(f"benchmarks.{name}"), attr, value)
    return empty


# ------------------------------------------------------------------ 1. missing shared data


@pytest.mark.parametrize(
    ("module", "argv", "marker"),
    [
        ("check_latency", [], "clean_text"),
        ("quality_speed", [], "clean_text"),
        ("report_speed", [], "langid"),
        ("ingest_memory", [], "clean_text"),
        ("filter_speed", [], "web"),
        ("dedup_speed", [], "clean_text"),
        ("scaling", [], "clean_text"),
        ("encoder_speed", [], "clean_text"),
        ("signature_speed", ["--ref", "HEAD"], "web"),
        ("corpus", ["--out", "{tmp}/corpus"], "clean_text"),
        ("tokenize_speed", ["--cores", "1"], "clean_text"),
        ("serve_load", [], "clean_text"),
    ],
)
def test_missing_shared_data_is_one_error_line_exit_2(module, argv, marker, no_data, tmp_path, capsys):
    main = importlib.import_module(f"benchmarks.{module}").main
    line = _one_error(main, [a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert f"{no_data / marker}" in line and "not found" in line, line


# ------------------------------------------------------------------ 2. serve_load


@pytest.mark.parametrize("flag", ["--concurrency", "--requests", "--rounds"])
def test_serve_load_refuses_zero_counts_up_front(flag, no_data, capsys):
    from benchmarks.serve_load import main

    assert "must be at least 1" in _usage_error(main, [flag, "0"], capsys, flag)


def test_serve_load_failed_child_is_one_error_line(no_data, monkeypatch, capsys):
    """A child that dies (here the fake upstream, with a traceback) is one `error:` line with its last
    line, the other children are stopped, exit 1."""
    import benchmarks.serve_load as serve_load

    (no_data / "clean_text").mkdir()
    (no_data / "clean_text" / "tinystories_head.txt").write_text("Once upon a time. " * 200)
    crash = (
        "import sys; print('Traceback (most recent call last):', file=sys.stderr); "
        "print('FileNotFoundError: [Errno 2] no story', file=sys.stderr); sys.exit(1)"
    )
    spawned: list[subprocess.Popen] = []

    def spawn(self, name: str, *args: str) -> None:
        code = crash if name == "fake upstream" else "import time; time.sleep(60)"
        with open(self.log(name), "wb") as log:
            self.procs[name] = subprocess.Popen([sys.executable, "-c", code], stderr=log)
        spawned.append(self.procs[name])

    monkeypatch.setattr(serve_load.Children, "spawn", spawn)
    line = _one_error(serve_load.main, [], capsys, code=1)
    assert line == "error: the fake upstream exited with status 1: FileNotFoundError: [Errno 2] no story"
    assert len(spawned) == 3 and all(p.poll() is not None for p in spawned)


def test_serve_load_error_event_is_a_load_error_not_a_key_error():
    """A server that cannot reach its upstream streams an error event without `choices`."""
    import httpx

    from benchmarks.serve_load import LoadError, _one

    event = {"error": {"message": "upstream unreachable: connection refused", "type": "upstream_error"}}
    body = f"data: {json.dumps(event)}\n\ndata: [DONE]\n\n".encode()
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    )

    async def one():
        async with httpx.AsyncClient(transport=transport) as client:
            return await _one(client, "http://test/v1/chat/completions", 0)

    with pytest.raises(LoadError, match="upstream unreachable"):
        asyncio.run(one())


# ------------------------------------------------------------------ 3. bad numbers and names


@pytest.mark.parametrize("flag", ["--parts", "--docs"])
def test_scaling_refuses_zero(flag, no_data, capsys):
    from benchmarks.scaling import main

    _usage_error(main, [flag, "0"], capsys, flag)


def test_quality_speed_refuses_zero_docs(no_data, capsys):
    from benchmarks.quality_speed import main

    _usage_error(main, ["--docs", "0"], capsys, "--docs")


def test_signature_speed_refuses_zero_rounds(no_data, capsys):
    from benchmarks.signature_speed import main

    _usage_error(main, ["--rounds", "0", "--ref", "HEAD"], capsys, "--rounds")


def test_signature_speed_unavailable_core_warns_and_uses_an_allowed_one(no_data, monkeypatch, capsys):
    """--core 9 on a machine without CPU 9: a warning and the lowest allowed CPU (was an OSError)."""
    import benchmarks.signature_speed as sig
    from dedup.minhash import signatures

    (no_data / sig.NEEDS).parent.mkdir(parents=True)
    (no_data / sig.NEEDS).write_text("{}")
    pinned: list[set[int]] = []
    written: dict = {}
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: pinned.append(set(cpus)))
    monkeypatch.setattr(sig, "reference_signatures", lambda ref: signatures)
    monkeypatch.setattr(
        sig, "timed_documents", lambda: ["the quick brown fox jumps over the lazy dog " * 5] * 3
    )
    monkeypatch.setattr(sig, "cpu_probe", lambda: 0.0)
    monkeypatch.setattr(sig, "write_results", lambda name, figures, **kw: written.update(kw) or Path(name))
    allowed = min(os.sched_getaffinity(0))
    core = max(os.sched_getaffinity(0)) + 64
    sig.main(["--ref", "HEAD", "--rounds", "1", "--core", str(core)])
    err = capsys.readouterr().err
    assert f"warning: CPU {core} is not available here" in err and "Traceback" not in err
    assert pinned == [{allowed}] and f"--core {allowed}" in written["method"]


def test_pathological_names_the_known_detectors(no_data, capsys):
    from benchmarks.pathological import main

    line = _one_error(main, ["--detectors", "langid,foo"], capsys)
    assert "--detectors" in line and "'foo'" in line and "langid,quality,toxicity" in line


def test_tokenize_speed_refuses_non_numeric_cores(no_data, capsys):
    from benchmarks.tokenize_speed import main

    assert "--cores" in _one_error(main, ["--cores", "abc"], capsys)


def test_tokenize_speed_refuses_more_cores_than_available(no_data, capsys):
    from benchmarks.tokenize_speed import main

    n = len(os.sched_getaffinity(0))
    line = _one_error(main, ["--cores", str(n + 1)], capsys)
    assert f"asked for {n + 1} cores, {n} available" in line and "--cores" in line


def test_tokenize_speed_refuses_zero_mb(no_data, capsys):
    from benchmarks.tokenize_speed import main

    _usage_error(main, ["--mb", "0", "--cores", "1"], capsys, "--mb")


def test_dedup_speed_parses_mem_sizes_before_any_part(no_data, capsys):
    from benchmarks.dedup_speed import main

    assert "--mem-sizes" in _one_error(main, ["--mem-sizes", "abc"], capsys)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--steps", "0"], "--steps"), (["--micro", "0"], "--micro"), (["--batch", "-1"], "--batch")],
)
def test_train_speed_refuses_bad_numbers(argv, flag, capsys):
    from benchmarks.train_speed import main

    _usage_error(main, argv, capsys, flag)


def test_train_speed_refuses_an_unknown_impl(capsys):
    from benchmarks.train_speed import main

    line = _one_error(main, ["--impls", "grouped_mm,foo"], capsys)
    assert "--impls" in line and "'foo'" in line and "auto,grouped_mm,loop" in line


def test_train_speed_refuses_an_invalid_config_before_training(capsys):
    """A micro-batch that does not divide the batch: pydantic's complaint as one line (was a traceback)."""
    from benchmarks.train_speed import main

    line = _one_error(main, ["--batch", "16", "--micro", "3"], capsys)
    assert "global_batch_size must be a multiple of micro_batch_size" in line


def test_train_speed_cuda_without_a_gpu_is_one_error_line(monkeypatch, capsys):
    import torch

    from benchmarks.train_speed import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "--device cuda" in _one_error(main, ["--device", "cuda"], capsys)


def test_encoder_speed_zero_texts_is_a_usage_error(no_data, capsys):
    from benchmarks.encoder_speed import main

    assert "--texts must be at least 8" in _one_error(main, ["--texts", "0"], capsys)


# ------------------------------------------------------------------ 4. values that used to succeed silently


def test_ingest_memory_refuses_negative_sizes(no_data, capsys):
    from benchmarks.ingest_memory import main

    _usage_error(main, ["--sizes", "-5"], capsys, "--sizes")


def test_pathological_refuses_zero_max_mb(no_data, capsys):
    from benchmarks.pathological import main

    _usage_error(main, ["--max-mb", "0"], capsys, "--max-mb")


def test_corpus_refuses_negative_docs(no_data, tmp_path, capsys):
    from benchmarks.corpus import main

    _usage_error(main, ["--docs", "-1", "--out", str(tmp_path / "c")], capsys, "--docs")
    assert not (tmp_path / "c").exists()


def test_corpus_refuses_a_file_for_out(no_data, tmp_path, capsys):
    from benchmarks.corpus import main

    (tmp_path / "f").write_text("")
    assert "--out" in _one_error(main, ["--docs", "1", "--out", str(tmp_path / "f")], capsys)


def test_tokenize_speed_refuses_unknown_tables(no_data, tmp_path, capsys):
    from benchmarks.tokenize_speed import main

    line = _one_error(main, ["--tables", "foo", "--cores", "1"], capsys)
    assert "--tables" in line and "'foo'" in line and "speed,memory" in line
    assert not (tmp_path / "out").exists()


def test_train_speed_refuses_unknown_configs(capsys):
    from benchmarks.train_speed import main

    line = _one_error(main, ["--configs", "foo"], capsys)
    assert "--configs" in line and "tiny,mid,small" in line


# ------------------------------------------------------------------ 5. dedup_speed partial runs


def test_dedup_speed_refuses_unknown_parts(no_data, tmp_path, capsys):
    from benchmarks.dedup_speed import main

    line = _one_error(main, ["--parts", "foo"], capsys)
    assert "--parts" in line and "'foo'" in line and "sig,full,mem" in line
    assert not (tmp_path / "out").exists()


def test_dedup_speed_partial_run_keeps_the_committed_figures(tmp_path):
    """Without the local out file (a fresh clone) the committed results' figures are the base, so a
    partial run rewrites benchmarks/results/dedup_speed.json with every part."""
    from benchmarks.dedup_speed import earlier_figures

    committed = {
        "signatures": ["committed"],
        "full": {"winnow": 1.0},
        "memory_curve": [{"docs": 100}],
        "memory_fit": {"intercept_mib": 1.0},
        "commands": {"sig": "committed sig", "full": "committed full", "mem": "committed mem"},
    }
    results_file = tmp_path / "dedup_speed.json"  # stands in for the committed benchmarks/results file
    results_file.write_text(json.dumps({"figures": committed}))
    fresh = earlier_figures(tmp_path / "absent.json", results_file)
    assert fresh == committed

    out = tmp_path / "out.json"
    out.write_text(json.dumps({"machine": {}, "signatures": ["local"], "commands": {"sig": "local run"}}))
    merged = earlier_figures(out, results_file)
    assert merged["signatures"] == ["local"] and merged["full"] == committed["full"]
    assert merged["commands"] == {**committed["commands"], "sig": "local run"}


# ------------------------------------------------------------------ 6. signature_speed --ref


def test_signature_speed_unknown_ref_is_one_error_line(no_data, capsys):
    from benchmarks.signature_speed import main

    line = _one_error(main, ["--ref", "nonsense"], capsys)
    assert "--ref nonsense" in line and "not a commit in this clone" in line


# ------------------------------------------------------------------ 7. train_speed --out and --help


def test_train_speed_refuses_a_folder_for_out(tmp_path, capsys):
    from benchmarks.train_speed import main

    line = _one_error(main, ["--out", str(tmp_path)], capsys)
    assert f"--out {tmp_path} is a folder" in line
    assert not (tmp_path.parent / f"{tmp_path.name}.json").exists()


def test_train_speed_refuses_an_out_it_would_rename(tmp_path, capsys):
    from benchmarks.train_speed import main

    line = _one_error(main, ["--out", str(tmp_path / "speed.txt")], capsys)
    assert "ends in .json" in line


def test_train_speed_help_describes_the_whole_benchmark(capsys):
    from benchmarks.train_speed import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    wanted = "(grouped matmul vs the per-expert loop fallback) on the same config."
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, also after hyphens
    assert wanted.replace(" ", "") in text
