"""The benchmark and evaluation commands' usage errors: each is one `error:` line on stderr and exit status 2,
checked before any long work (missing shared data, bad numbers, unwritable outputs, unknown names), and
`--help` never runs an evaluation. Nothing here runs a real benchmark or writes benchmarks/results/: the
commands get an empty data folder (a module constant or --data pointing at tmp_path) or fail on their
arguments first, and the parts that would do work are replaced by stand-ins that fail the test."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(module: ModuleType, argv: list[str], monkeypatch) -> int:
    """`python -m benchmarks.NAME ARGV` in this process: its exit status (a return value or SystemExit)."""
    monkeypatch.setattr(sys, "argv", [f"{module.__name__.rsplit('.', 1)[1]}.py", *argv])
    try:
        code = module.main()
    except SystemExit as e:
        code = e.code
    return 0 if code is None else code


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _usage_error(err: str, flag: str) -> None:
    """argparse's usage error for `flag`, or one `error:` line naming it."""
    last = err.strip().splitlines()[-1]
    assert "error: " in last and flag in last, err


def _mod(name: str) -> ModuleType:
    return importlib.import_module(f"benchmarks.{name}")


def _fail(*_args, **_kwargs):
    raise AssertionError("the command started its real work")


# ----------------------------------------------------------------------------------------- missing shared data


def _partial_harm_data(root: Path) -> Path:
    """A data folder with harm/SOURCES.md but no toxicity/ or clean_text/."""
    (root / "harm").mkdir(parents=True)
    (root / "harm" / "SOURCES.md").write_text("sources\n", encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("name", "constant", "argv", "named"),
    [
        ("eval_rules", "DATA", [], "pii/presidio_synth_dataset_v2.json"),
        ("eval_pii_heldout", "DATA", [], "ground-truth.json"),
        ("eval_classifiers", "DATA", [], "toxicity"),
        ("eval_phones", "DATA", ["--no-before"], "clean_text"),
        ("dedup_provenance", "SHARED", ["--skip-speed"], "ground-truth.json"),
        ("extraction_quality", "SHARED", [], "ground-truth.json"),
        ("dedup_quality", "SHARED", [], "clean_text"),
        ("eval_langid", "DATA", [], "lingua_sentences_75lang_250each.tsv"),
        ("guard_compare", "SHARED", [], "wikitext2_test.txt"),
        ("eval_harm", None, ["--data", "{partial}"], "toxicity/davidson_labeled_data.csv"),
        ("prompt_transcripts", None, ["--data", "{partial}"], "toxicity/davidson_labeled_data.csv"),
        ("langid_cut", None, ["--data", "{empty}"], "clean_text"),
    ],
)
def test_missing_shared_data_is_one_error_line_before_any_work(
    name: str, constant: str | None, argv: list[str], named: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    module = _mod(name)
    empty = tmp_path / "empty"
    empty.mkdir()
    partial = _partial_harm_data(tmp_path / "partial")
    if constant:
        monkeypatch.setattr(module, constant, empty / "langid" if name == "eval_langid" else empty)
    if name == "dedup_quality":  # its paragraphs come through benchmarks.dedup_data
        monkeypatch.setattr(_mod("dedup_data"), "SHARED", empty)
    argv = [a.format(partial=partial, empty=empty) for a in argv]
    assert _run(module, argv, monkeypatch) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert named in line and "not found: put the shared data folder" in line


# ----------------------------------------------------------------------------------------- run_all


@pytest.fixture
def run_all(monkeypatch, tmp_path: Path):
    """benchmarks.run_all with a data folder that exists, its outputs in tmp_path, and no real subprocess."""
    module = _mod("run_all")
    monkeypatch.setattr(module, "SHARED_DATA", tmp_path, raising=False)
    monkeypatch.setattr(module, "OUT", tmp_path / "out")
    monkeypatch.setattr(module, "subprocess", SimpleNamespace(run=_fail, PIPE=subprocess.PIPE))
    return module


def test_run_all_refuses_an_unknown_benchmark_listing_the_known_ones(run_all, monkeypatch, capsys) -> None:
    assert _run(run_all, ["filterspeed"], monkeypatch) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "filterspeed" in line and "filter_speed" in line and "dedup_quality" in line


def test_run_all_stops_before_running_anything_without_the_shared_data(
    run_all, monkeypatch, tmp_path: Path, capsys
) -> None:
    monkeypatch.setattr(run_all, "SHARED_DATA", tmp_path / "no-such-folder", raising=False)
    assert _run(run_all, ["dedup_quality"], monkeypatch) == 2
    assert "no-such-folder" in _one_error_line(capsys.readouterr().err)


def test_run_all_shows_each_benchmark_and_its_seconds_on_stderr(run_all, monkeypatch, capsys) -> None:
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="| table |\n", stderr="")

    monkeypatch.setattr(run_all, "subprocess", SimpleNamespace(run=fake_run, PIPE=subprocess.PIPE))
    monkeypatch.setattr(run_all, "wrote_results", lambda name, since: True)
    assert _run(run_all, ["dedup_quality", "guard_scan"], monkeypatch) == 0
    err = capsys.readouterr().err
    assert "running dedup_quality (1/2) ..." in err and "running guard_scan (2/2) ..." in err
    assert "dedup_quality in 0 s" in err and "guard_scan in 0 s" in err
    assert [c[-1] for c in calls] == ["benchmarks.dedup_quality", "benchmarks.guard_scan"]


# ----------------------------------------------------------------------------------------- --help


def test_eval_classifiers_help_prints_usage_and_runs_nothing(monkeypatch, capsys) -> None:
    module = _mod("eval_classifiers")
    for name in ("eval_toxicity", "eval_langid", "eval_speed", "write_results"):
        monkeypatch.setattr(module, name, _fail)
    assert _run(module, ["--help"], monkeypatch) == 0
    assert "usage:" in capsys.readouterr().out


def test_guard_compare_help_prints_usage(monkeypatch, capsys) -> None:
    module = _mod("guard_compare")
    monkeypatch.setattr(module, "Filter", _fail)
    assert _run(module, ["--help"], monkeypatch) == 0
    out = capsys.readouterr().out
    assert "usage:" in out and "root" in out


# ----------------------------------------------------------------------------------------- outputs checked first


@pytest.mark.parametrize(
    ("name", "flag", "where"),
    [
        ("eval_harm", "--out", "folder"),
        ("eval_harm", "--rows", "no-parent"),
        ("langid_cut", "--out", "folder"),
        ("eval_langid", "--out", "no-parent"),
    ],
)
def test_an_unwritable_output_is_refused_before_any_work(
    name: str, flag: str, where: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    module = _mod(name)
    if where == "folder":
        target = tmp_path
    else:  # a file where the output's folder would be made
        (tmp_path / "blocker").write_text("")
        target = tmp_path / "blocker" / "x.json"
    argv = [flag, str(target)]
    if name == "eval_langid":
        monkeypatch.setattr(module, "DATA", tmp_path / "langid")
    else:
        argv += ["--data", str(tmp_path)]
    assert _run(module, argv, monkeypatch) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: {flag} {target}")


def _rows_file(path: Path, rows: list) -> Path:
    cats = ["hate", "harassment", "sexual", "sexual_minors", "violence", "self_harm", "illicit", "profanity"]
    fired = ["00"] * len(rows)
    path.write_text(json.dumps({"categories": cats, "rows": rows, "fired": {"shipped_confirm": fired}}))
    return path


def _good_rows() -> list[dict]:
    return [{"key": f"k{i}", "source": "advbench", "labels": "1-------", "harmful": 1} for i in range(40)] + [
        {"key": f"p{i}", "source": "xstest_prompts", "labels": "0-------", "harmful": 0} for i in range(10)
    ]


def test_compare_harm_writes_exactly_the_out_path_given(tmp_path: Path, capsys) -> None:
    module = _mod("compare_harm")
    rows = _rows_file(tmp_path / "a.json", _good_rows())
    out = tmp_path / "cmp.txt"
    assert module.main(["--base", str(rows), "--variant", str(rows), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["figures"]["config"] == "shipped_confirm"
    assert not (tmp_path / "cmp.json").exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "a.json",
        "cmp.txt",
    ]
    assert f"wrote {out}" in capsys.readouterr().out


def test_compare_harm_out_folder_is_refused_before_comparing(tmp_path: Path, monkeypatch, capsys) -> None:
    module = _mod("compare_harm")
    rows = _rows_file(tmp_path / "a.json", _good_rows())
    monkeypatch.setattr(module, "compare", _fail)
    with pytest.raises(SystemExit) as e:
        module.main(["--base", str(rows), "--variant", str(rows), "--out", str(tmp_path)])
    assert e.value.code == 2
    assert _one_error_line(capsys.readouterr().err).startswith(f"error: --out {tmp_path} is a folder")


def test_compare_harm_refuses_a_malformed_rows_entry(tmp_path: Path, capsys) -> None:
    module = _mod("compare_harm")
    rows = _good_rows()
    rows[3] = "not a row"
    path = _rows_file(tmp_path / "a.json", rows)
    assert module.main(["--base", str(path), "--variant", str(path)]) == 2
    assert "rows[3]" in _one_error_line(capsys.readouterr().err)


def test_eval_langid_udhr_name_with_json_is_not_doubled(monkeypatch, capsys) -> None:
    module = _mod("eval_langid_udhr")
    rows = [
        {
            "bcp47": "en",
            "iso6393": "eng",
            "half": "test",
            "text": "All human beings are born free and equal.",
        },
        {"bcp47": "fr", "iso6393": "fra", "half": "test", "text": "Tous les êtres humains naissent libres."},
    ]
    written = []

    def fake_write(name, figures, **kwargs):
        written.append(name)
        return Path("/nowhere") / f"{name}.json"

    monkeypatch.setattr(module, "load", lambda: rows)
    monkeypatch.setattr(module, "write_results", fake_write)
    assert _run(module, ["--name", "udhr_check.json"], monkeypatch) == 0
    assert written == ["udhr_check"]


# ----------------------------------------------------------------------------------------- bad numbers


def _no_cpu() -> str:
    return str(max(os.sched_getaffinity(0)) + 1)


@pytest.mark.parametrize(
    ("name", "argv", "flag"),
    [
        ("eval_rules", ["--lang-sentences", "0"], "--lang-sentences"),
        ("eval_rules", ["--clean-docs", "0"], "--clean-docs"),
        ("eval_rules", ["--tweets", "-5"], "--tweets"),
        ("extraction_quality", ["--limit", "0"], "--limit"),
        ("extraction_quality", ["--limit", "-1"], "--limit"),
        ("dedup_provenance", ["--max-words", "0"], "--max-words"),
        ("dedup_quality", ["--base", "0"], "--base"),
        ("dedup_quality", ["--base", "-3"], "--base"),
        ("guard_scan", ["--rounds", "0"], "--rounds"),
        ("eval_harm", ["--per-source", "-1"], "--per-source"),
        ("eval_harm", ["--offset", "-5"], "--offset"),
        ("eval_langid_udhr", ["--core", "-1"], "--core"),
        ("eval_langid_udhr", ["--core", "{no_cpu}"], "--core"),
    ],
)
def test_a_bad_number_is_a_usage_error(
    name: str, argv: list[str], flag: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    module = _mod(name)
    # Should the check be missing, the command fails on an empty data folder instead of running.
    for constant in ("DATA", "SHARED"):
        if hasattr(module, constant) and name != "eval_langid_udhr":
            monkeypatch.setattr(module, constant, tmp_path)
    monkeypatch.setattr(_mod("dedup_data"), "SHARED", tmp_path)
    for heavy in ("Filter", "Lid176Detector", "LangIdDetector", "write_results"):
        if hasattr(module, heavy):
            monkeypatch.setattr(module, heavy, _fail)
    if name == "eval_harm":
        argv = [*argv, "--data", str(tmp_path)]
    argv = [a.format(no_cpu=_no_cpu()) for a in argv]
    assert _run(module, argv, monkeypatch) == 2
    _usage_error(capsys.readouterr().err, flag)


# ----------------------------------------------------------------------------------------- eval_phones, summary, make help


def test_eval_phones_without_the_before_revision_says_to_pass_no_before(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    module = _mod("eval_phones")
    for sub in ("clean_text", "toxicity", "langid", "pii"):
        (tmp_path / sub).mkdir()
    (tmp_path / "pii" / "presidio_synth_dataset_v2.json").write_text("[]")
    monkeypatch.setattr(module, "DATA", tmp_path)
    monkeypatch.setattr(module, "load_set", _fail)
    assert _run(module, ["--before", "no-such-revision-0000"], monkeypatch) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "no-such-revision-0000" in line and "--no-before" in line


def test_summary_names_the_command_that_writes_a_missing_results_file(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    module = _mod("summary")
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    assert module.main([]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "ingest_speed.json not found" in line and "python -m benchmarks.ingest_speed" in line


def test_summary_reports_a_corrupt_results_file_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    module = _mod("summary")
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    (tmp_path / "ingest_speed.json").write_text('{"figures": ', encoding="utf-8")
    assert module.main([]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "ingest_speed.json is not a readable JSON file" in line


def test_make_help_says_eval_refreshes_the_current_figures_table() -> None:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    help_line = next(line for line in text.splitlines() if "@echo" in line and "make eval" in line)
    assert "current-figures table" in help_line
    eval_recipe = text.split("\neval:", 1)[1].split("\n\n", 1)[0]
    assert "benchmarks.summary --write" in eval_recipe


def test_an_output_folder_that_can_be_made_is_accepted_and_nothing_is_made_by_the_check(
    tmp_path: Path,
) -> None:
    """The commands that made a missing --out/--rows folder keep doing so when they write; the up-front
    check refuses only a folder that cannot be made (a file in the way) or a folder given as the file,
    and makes nothing itself (a later refusal must leave no folders behind)."""
    from benchmarks.machine import require_writable_file

    target = tmp_path / "new" / "deeper" / "x.json"
    require_writable_file(target, "--rows")
    assert not (tmp_path / "new").exists()
