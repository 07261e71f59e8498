"""`winnow filter score` in a new user's first hour (issue 12), through the real CLI in a subprocess.

Run from a directory outside the repository, as an installed user would: the shipped policy is
package data, an empty file says there was nothing to score, the summary says which mode judged
the file and why documents were dropped, and every user mistake is one `error:` line, exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from filters.policy import DEFAULT_POLICY
from filters.score_jsonl import ScoreInputError, score_file

WINNOW = Path(sys.executable).parent / "winnow"
SHORT_CLEAN = "Thanks, see you tomorrow at the station."


def score_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WINNOW), "filter", "score", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def assert_refused(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    output = res.stdout + res.stderr
    assert res.returncode == 2, output
    assert "Traceback" not in output, output
    assert sum(line.startswith("error:") for line in res.stderr.splitlines()) == 1, res.stderr
    for needle in needles:
        assert needle in res.stderr, res.stderr


def test_outside_the_repo_without_policy_uses_the_shipped_one_and_drops_child_porn(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", ["where can I find child porn", SHORT_CLEAN])
    res = score_cli(tmp_path, "in.jsonl", "-o", "out.jsonl", "--mode", "runtime")
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads(res.stdout)
    assert Path(summary["policy"]) == DEFAULT_POLICY and summary["mode"] == "runtime"
    assert summary["documents"] == 2 and summary["dropped_by"] == {"sexual_minors": 1}
    recs = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["action"], r.get("reason")) for r in recs] == [("drop", "sexual_minors"), ("allow", None)]


def test_empty_input_says_nothing_was_scored(tmp_path):
    (tmp_path / "in.jsonl").write_text("")
    res = score_cli(tmp_path, "in.jsonl", "-o", "out.jsonl")
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads(res.stdout)
    assert summary["documents"] == 0 and summary["errors"] == 0 and summary["actions"] == {}
    assert "note: in.jsonl has no lines: nothing was scored" in res.stderr
    assert (tmp_path / "out.jsonl").read_text() == ""
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "out.jsonl").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_pretrain_mode_is_named_and_its_quality_drops_explained(tmp_path):
    """The default mode judges training data: a short clean text is dropped as low_quality, and the
    summary and its note say so (pointing at --mode runtime); the help says what each mode means."""
    src = write_jsonl(tmp_path / "in.jsonl", [SHORT_CLEAN])
    pretrain = score_file(src, tmp_path / "pretrain.jsonl")
    assert pretrain.mode == "pretrain" and pretrain.dropped_by == {"low_quality": 1}
    assert "low_quality" in pretrain.note and "--mode runtime" in pretrain.note
    runtime = score_file(src, tmp_path / "runtime.jsonl", mode="runtime")
    assert runtime.actions == {"allow": 1} and runtime.note == ""
    helptext = " ".join(score_cli(tmp_path, "--help").stdout.split())
    assert "pretrain (default)" in helptext and "low_quality" in helptext and "runtime:" in helptext


def test_bad_policy_is_one_error_line_naming_the_field(tmp_path):
    policy = DEFAULT_POLICY.read_text(encoding="utf-8").replace("threshold: 0.5\n", "threshold: true\n", 1)
    (tmp_path / "policy.yaml").write_text(policy, encoding="utf-8")
    write_jsonl(tmp_path / "in.jsonl", [SHORT_CLEAN])
    res = score_cli(tmp_path, "in.jsonl", "-o", "out.jsonl", "--policy", "policy.yaml")
    assert_refused(res, "categories.hate.threshold")
    assert not (tmp_path / "out.jsonl").exists()


def test_missing_input_and_missing_policy_are_one_error_line(tmp_path):
    assert_refused(
        score_cli(tmp_path, "nowhere.jsonl", "-o", "out.jsonl"), "input file not found: nowhere.jsonl"
    )
    write_jsonl(tmp_path / "in.jsonl", [SHORT_CLEAN])
    res = score_cli(tmp_path, "in.jsonl", "-o", "out.jsonl", "--policy", "configs/policy.yaml")
    assert_refused(res, "policy file not found: configs/policy.yaml")


def test_output_onto_the_input_and_a_bad_batch_size_are_refused_before_scoring(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [SHORT_CLEAN])
    before = src.read_bytes()
    with pytest.raises(ScoreInputError, match="is the input file"):
        score_file(src, tmp_path / "." / "in.jsonl")
    assert src.read_bytes() == before
    with pytest.raises(ScoreInputError, match="batch size must be from 1 to"):
        score_file(src, tmp_path / "out.jsonl", batch_size=0)
    assert not (tmp_path / "out.jsonl").exists()


def test_an_overlong_line_is_one_error_record_and_the_next_lines_are_scored(tmp_path, monkeypatch):
    import filters.score_jsonl as score_jsonl

    monkeypatch.setattr(score_jsonl, "MAX_LINE_CHARS", 100)
    lines = [
        json.dumps({"id": "a", "text": SHORT_CLEAN}),
        json.dumps({"id": "long", "text": "x" * 1000}),
        json.dumps({"id": "b", "text": SHORT_CLEAN}),
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    summary = score_file(tmp_path / "in.jsonl", tmp_path / "out.jsonl", mode="runtime")
    recs = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r.get("id") for r in recs] == ["a", None, "b"]
    assert recs[1]["action"] == "error" and "longer than 100 characters" in recs[1]["error"]
    assert summary.errors == 1 and summary.documents == 2  # documents scored; the error apart


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    """`-o - | head -1`: the records after the reader left are not wanted; no traceback, exit 0."""
    lines = [json.dumps({"id": "a", "text": SHORT_CLEAN})] + [f"{{not json {i}" for i in range(5000)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")  # ~650 KB of records: more than a pipe holds
    cmd = [str(WINNOW), "filter", "score", "in.jsonl", "-o", "-", "--mode", "runtime"]
    with subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert json.loads(proc.stdout.readline())["id"] == "a"
        proc.stdout.close()  # as `head -1` does
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=300) == 0, stderr
    assert stderr == ""


def test_a_closed_stdout_does_not_fail_a_run_that_wrote_its_output_file(tmp_path):
    """With -o FILE only the summary goes to stdout: a reader gone before it is no error either."""
    write_jsonl(tmp_path / "in.jsonl", [SHORT_CLEAN])
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        res = subprocess.run(
            [str(WINNOW), "filter", "score", "in.jsonl", "-o", "out.jsonl", "--mode", "runtime"],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(write_end)
    assert (res.returncode, res.stderr) == (0, "")
    assert json.loads((tmp_path / "out.jsonl").read_text())["action"] == "allow"


def test_help_says_one_record_per_non_blank_line_and_where_the_summary_goes(capsys):
    from winnow.cli import build_parser

    for argv in (["filter", "--help"], ["filter", "score", "--help"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)
        text = " ".join(capsys.readouterr().out.split())
        assert "per input line" not in text
        assert "one JSON line per non-blank input line" in text and "summary" in text and "stderr" in text
