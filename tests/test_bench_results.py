"""Every benchmark `make bench` runs writes benchmarks/results/<name>.json through the one shared writer
(issue 14: every benchmark table has machine-readable results with command, machine, date and method)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks.machine import RESULT_KEYS, RESULTS, code_version, write_results
from benchmarks.run_all import BENCHMARKS

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
# Results written from here on record the code they ran (`code`: git commit and dirty flag). Files written
# before the writer recorded it (2026-12-04, about 22:15 UTC) keep their older layout until rerun.
CODE_KEY_SINCE = "2026-12-04 22:30"


def _writer_calls(tree: ast.Module) -> list[ast.Call]:
    """Calls of `write_results` (bare or as an attribute) in a module."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "write_results")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "write_results")
        )
    ]


def _imports_writer(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "benchmarks.machine"
        and any(alias.name == "write_results" for alias in node.names)
        for node in ast.walk(tree)
    )


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_writes_results_through_shared_writer(name: str) -> None:
    path = BENCH_DIR / f"{name}.py"
    assert path.is_file(), f"run_all lists {name}, but benchmarks/{name}.py does not exist"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert _imports_writer(tree), (
        f"benchmarks/{name}.py does not import write_results from benchmarks.machine"
    )
    calls = _writer_calls(tree)
    assert calls, f"benchmarks/{name}.py never calls write_results: its figures reach no results JSON"
    assert all(any(k.arg == "method" for k in c.keywords) for c in calls), (
        f"benchmarks/{name}.py calls write_results without saying how the figures were measured (method=)"
    )


def test_write_results_records_figures_command_machine_date_and_method(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WINNOW_BENCH_NOTE", "loaded machine")
    figures = {"rows": [{"name": "a", "docs_per_s": np.float64(12.5), "n": np.int64(3)}], "auc": float("nan")}
    path = write_results(
        "tiny", figures, method="median of 3 runs, one core, warm", note="test", folder=tmp_path
    )

    assert path == tmp_path / "tiny.json"
    doc = json.loads(path.read_text(encoding="utf-8"))  # strict JSON: NaN would not parse as a number here
    assert tuple(doc) == RESULT_KEYS
    assert doc["benchmark"] == "tiny"
    assert doc["figures"]["rows"] == [{"name": "a", "docs_per_s": 12.5, "n": 3}]
    assert doc["figures"]["auc"] is None
    assert "python" in doc["command"]
    assert doc["machine"]["nproc"] >= 1 and doc["machine"]["cpu_affinity"]
    assert doc["date"] == doc["machine"]["date"] and doc["date"].endswith("UTC")
    assert doc["method"] == "median of 3 runs, one core, warm"
    assert doc["note"] == "loaded machine; test"
    assert not list(tmp_path.glob(".*.tmp"))
    # the code it ran: this checkout's commit, and whether the tree differed from it
    assert re.fullmatch(r"[0-9a-f]{40}", doc["code"]["commit"])
    assert isinstance(doc["code"]["dirty"], bool)
    assert doc["code"]["dirty"] == bool(doc["code"]["changed_paths"])


def test_code_version_outside_a_checkout_says_so(tmp_path: Path) -> None:
    assert code_version(tmp_path) == {"commit": None, "dirty": None, "changed_paths": []}


def _result_files() -> list[Path]:
    return sorted(RESULTS.glob("*.json"))


def _start(date: str) -> str:
    """'YYYY-MM-DD HH:MM' of a results file's date, whichever of the layouts wrote it."""
    m = re.match(r"(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}))?", date or "")
    return f"{m.group(1)} {m.group(2) or '00:00'}" if m else ""


def test_results_written_since_the_code_key_record_their_commit() -> None:
    assert (
        _start("2026-12-04T16:34:07+00:00") == "2026-12-04 16:34"
        and _start("2026-12-03") == "2026-12-03 00:00"
    )
    files = _result_files()
    assert files
    lacking = []
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if "figures" not in doc or _start(doc.get("date", "")) < CODE_KEY_SINCE:
            continue  # written before results recorded the code version (older layout)
        code = doc.get("code") or {}
        if not code.get("commit") or not isinstance(code.get("dirty"), bool):
            lacking.append(path.name)
    assert not lacking, f"results that do not say which commit produced them: {lacking}"


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_in_make_bench_has_a_committed_results_file(name: str) -> None:
    found = list(RESULTS.glob(f"{name}.json")) + list(RESULTS.glob(f"{name}-*.json"))
    assert found, f"run_all lists {name}, but benchmarks/results/ has no {name}.json"


def _cited_results() -> set[str]:
    """Results files the documentation cites: explicit benchmarks/results/ paths anywhere (not the
    `git show REV:path` form, which names a file of an older commit), and docs/CLUSTER.md's bare names."""
    cited = set()
    for doc in ("BENCHMARKS.md", "README.md", "docs/CLUSTER.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        text = re.sub(r"git show \S+:\S+", "", text)
        cited |= set(re.findall(r"benchmarks/results/([\w.-]+\.(?:json|log))", text))
        if doc == "docs/CLUSTER.md":
            cited |= set(re.findall(r"`([\w.-]+\.json)`", text))
    return cited


def test_every_results_file_the_documentation_cites_is_committed() -> None:
    cited = _cited_results()
    assert "filter_speed.json" in cited  # the scan finds citations at all
    missing = sorted(name for name in cited if not (RESULTS / name).is_file())
    assert not missing, f"cited but not in benchmarks/results/: {missing}"


@pytest.mark.parametrize("formatted", ["1,234", "12.5%", "3.1×", "2.75 ms", "1,101.5"])
def test_write_results_refuses_formatted_figures(tmp_path: Path, formatted: str) -> None:
    with pytest.raises(ValueError, match="store the number"):
        write_results("tiny", {"rows": [{"ratio": formatted}]}, method="one run", folder=tmp_path)
    assert not (tmp_path / "tiny.json").exists()


def test_write_results_requires_a_method(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="method"):
        write_results("tiny", {"x": 1.0}, method=" ", folder=tmp_path)
    assert not (tmp_path / "tiny.json").exists()


def test_make_bench_runs_the_commands_the_tables_cite() -> None:
    from benchmarks.run_all import ARGS

    text = " ".join((ROOT / "BENCHMARKS.md").read_text(encoding="utf-8").split())
    for name, invocations in ARGS.items():
        assert name in BENCHMARKS
        for extra in invocations:
            command = " ".join([f"benchmarks.{name}", *extra])
            assert command in text, f"make bench runs `{command}`, which no BENCHMARKS.md table cites"


def test_a_missing_shared_data_folder_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.machine import shared_data_missing

    assert shared_data_missing(tmp_path, "harm")
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and err[0].startswith("error: ")
        and str(tmp_path / "harm") in err[0]
        and "--data" in err[0]
    )
    (tmp_path / "harm").mkdir()
    assert not shared_data_missing(tmp_path, "harm") and capsys.readouterr().err == ""
