"""Every benchmark `make bench` runs writes benchmarks/results/<name>.json through the one shared writer
(issue 14: every benchmark table has machine-readable results with command, machine, date and method)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.machine import RESULT_KEYS, write_results
from benchmarks.run_all import BENCHMARKS

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


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


@pytest.mark.parametrize("formatted", ["1,234", "12.5%", "3.1×", "2.75 ms", "1,101.5"])
def test_write_results_refuses_formatted_figures(tmp_path: Path, formatted: str) -> None:
    with pytest.raises(ValueError, match="store the number"):
        write_results("tiny", {"rows": [{"ratio": formatted}]}, method="one run", folder=tmp_path)
    assert not (tmp_path / "tiny.json").exists()


def test_write_results_requires_a_method(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="method"):
        write_results("tiny", {"x": 1.0}, method=" ", folder=tmp_path)
    assert not (tmp_path / "tiny.json").exists()
