"""A newcomer's first mistakes, part two (the audit's twelve): each is one `error:` line (exit 2, no
traceback) that names the thing and says what to do, or a `warning:` when only some input is bad.

Commands run as the installed `winnow` in a subprocess, with RAY_TMPDIR inside tmp_path so that
"refused before Ray starts" is checked directly (no Ray session directory appears).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

WINNOW = str(Path(sys.executable).parent / "winnow")
REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "moe-tiny.yaml"
DOC = "The river flows gently through the valley in spring, past the old mill."


def winnow(cwd: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """`winnow ARGS` in cwd; fails if Ray was started."""
    env = {**os.environ, "RAY_TMPDIR": str(cwd / "ray")}
    proc = subprocess.run(
        [WINNOW, *args], cwd=cwd, env=env, input=stdin, capture_output=True, timeout=300, check=False
    )
    assert not (cwd / "ray").exists(), "Ray was started"
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The single `error:` line of a refused command (exit 2, no traceback)."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def jsonl(path: Path, records: list[dict], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail, encoding="utf-8")
    return path


# -- 1, 2: filter score --------------------------------------------------------------------------


def test_filter_score_refuses_compressed_and_parquet_input_by_its_bytes(tmp_path):
    raw = json.dumps({"id": "a", "text": DOC}).encode() + b"\n"
    (tmp_path / "docs.jsonl.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "renamed.jsonl").write_bytes(gzip.compress(raw))  # magic bytes, not the name
    pq.write_table(pa.table({"id": ["a"], "text": [DOC]}), tmp_path / "part-0.parquet")
    line = one_error(winnow(tmp_path, "filter", "score", "docs.jsonl.gz", "-o", "o.jsonl"))
    assert line == (
        "error: docs.jsonl.gz is gzip-compressed; filter score reads plain JSONL "
        "(decompress it, e.g. zcat docs.jsonl.gz > docs.jsonl)"
    )
    line = one_error(winnow(tmp_path, "filter", "score", "renamed.jsonl", "-o", "o.jsonl"))
    assert "renamed.jsonl is gzip-compressed" in line and "zcat renamed.jsonl" in line
    line = one_error(winnow(tmp_path, "filter", "score", "part-0.parquet", "-o", "o.jsonl"))
    assert line.startswith("error: part-0.parquet is a Parquet file; filter score reads JSONL")
    line = one_error(winnow(tmp_path, "filter", "score", "-", "-o", "o.jsonl", stdin=gzip.compress(raw)))
    assert line.startswith("error: stdin is gzip-compressed") and "zcat FILE | winnow filter score -" in line
    assert not (tmp_path / "o.jsonl").exists()


def test_filter_score_with_no_scorable_line_is_an_error_naming_the_first_reason(tmp_path):
    jsonl(tmp_path / "c.jsonl", [{"id": "1", "content": DOC}], tail="\n")
    line = one_error(winnow(tmp_path, "filter", "score", "c.jsonl", "-o", "o.jsonl", "--mode", "runtime"))
    assert "no line of c.jsonl could be scored" in line
    assert "(first: line 1: no 'text' field (found ['content', 'id']))" in line
    assert "string `text`" in line


def test_filter_score_skips_blank_lines_and_warns_of_the_lines_not_scored(tmp_path):
    good = json.dumps({"id": "a", "text": DOC}).encode()
    data = good + b"\n\n" + b'{"id": "b", "text": "caf\xe9"}\n' + json.dumps({"id": "c"}).encode() + b"\n  \n"
    (tmp_path / "in.jsonl").write_bytes(data)
    proc = winnow(tmp_path, "filter", "score", "in.jsonl", "-o", "o.jsonl", "--mode", "runtime")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "warning: 2 of 3 lines not scored (first: line 3: invalid UTF-8 at byte 24)"
    ]
    summary = json.loads(proc.stdout)
    assert (summary["documents"], summary["errors"]) == (1, 2)
    recs = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [(r.get("line"), r["action"]) for r in recs] == [(None, "allow"), (3, "error"), (4, "error")]
    assert recs[1] == {
        "line": 3,
        "id": None,
        "action": "error",
        "error": "invalid UTF-8 at byte 24",  # worded as ingest, dedup and tokenize word it
    }
    assert recs[2]["error"] == "no 'text' field (found ['id'])"


def test_filter_score_reports_progress_on_a_long_file_only(tmp_path, monkeypatch):
    """A long file is never silent: `filter score: N lines read (R lines/s)` on stderr at most every
    WINNOW_PROGRESS_EVERY seconds, counted from the first batch (so a short file writes none)."""
    monkeypatch.setenv("WINNOW_PROGRESS_EVERY", "0.1")
    jsonl(tmp_path / "long.jsonl", [{"id": i, "text": f"{DOC} Line {i}."} for i in range(1500)])
    proc = winnow(tmp_path, "filter", "score", "long.jsonl", "-o", "out.jsonl", "--batch-size", "50")
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("filter score: ")]
    assert lines and all(x.endswith(" lines/s)") and " lines read (" in x for x in lines), proc.stderr
    assert json.loads(proc.stdout)["documents"] == 1500
    jsonl(tmp_path / "short.jsonl", [{"id": 1, "text": DOC}])
    proc = winnow(tmp_path, "filter", "score", "short.jsonl", "-o", "out2.jsonl")
    assert proc.returncode == 0 and "lines read" not in proc.stderr, proc.stderr


def test_filter_score_reads_stdin_and_writes_stdout(tmp_path):
    data = json.dumps({"id": "a", "text": DOC}).encode() + b"\n"
    proc = winnow(tmp_path, "filter", "score", "-", "-o", "-", "--mode", "runtime", stdin=data)
    assert proc.returncode == 0, proc.stderr
    (rec,) = [json.loads(x) for x in proc.stdout.splitlines()]
    assert rec["id"] == "a" and rec["action"] == "allow"
    assert json.loads(proc.stderr)["documents"] == 1  # the summary moves to stderr
    assert not (tmp_path / "-").exists()


# -- 3, 4, 10: train -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokens(shakespeare_tokens, tmp_path_factory) -> Path:
    """A small tokens directory (vocab 512, seq_len 64)."""
    return shakespeare_tokens(tmp_path_factory.mktemp("tok") / "tokens", 40_000)


def fake_checkpoint(out: Path, model: dict) -> None:
    """What a finished run leaves for `_restore_model` to compare: a checkpoint's config.json."""
    step = out / "checkpoints" / "step-00000002"
    step.mkdir(parents=True)
    (step / "config.json").write_text(json.dumps({"model": model}))


def test_train_on_a_checkpoint_of_another_model_names_the_settings_that_differ(tmp_path, tokens):
    from trainer.config import load_config

    model = load_config(TINY).model.model_dump(mode="json")
    fake_checkpoint(tmp_path / "out", {**model, "dim": 96, "vocab_size": 300, "max_seq_len": 64})
    line = one_error(winnow(tmp_path, "train", str(TINY), "--tokens", str(tokens), "--out", "out"))
    assert line == (
        "error: out holds a checkpoint of another model (dim 96 -> 64, vocab_size 300 -> 512 (taken from "
        "the tokens)); give another --out, or delete out/checkpoints to start over"
    )
    line = one_error(
        winnow(tmp_path, "train", str(TINY), "--tokens", str(tokens), "--out", "out", "--no-resume")
    )
    assert line.startswith("error: out already holds a checkpoint (step-00000002)")
    assert "drop --no-resume to continue it, or give another --out" in line


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="needs a torch without CUDA to refuse train.device: cuda"
)
def test_train_device_cuda_without_cuda_is_one_error_line(tmp_path, tokens):
    raw = yaml.safe_load(TINY.read_text())
    raw["train"]["device"] = "cuda"
    (tmp_path / "gpu.yaml").write_text(yaml.safe_dump(raw))
    line = one_error(winnow(tmp_path, "train", "gpu.yaml", "--tokens", str(tokens), "--out", "out"))
    assert line.startswith("error: gpu.yaml: train.device is 'cuda' but this torch sees no CUDA device")
    assert "set train.device: auto (or cpu)" in line
    assert not (tmp_path / "out").exists()


def test_train_names_a_config_directory_and_the_tokens_inside_a_run_directory(tmp_path, tokens):
    (tmp_path / "configs").mkdir()
    line = one_error(winnow(tmp_path, "train", "configs", "--tokens", "t", "--out", "out"))
    assert line == "error: configs is a directory — give a model config file such as configs/moe-tiny.yaml"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "tokens").symlink_to(tokens)
    line = one_error(winnow(tmp_path, "train", str(TINY), "--tokens", "run", "--out", "out"))
    assert line == (
        "error: no manifest.json in run: it is a run directory — give its tokens directory, --tokens run/tokens"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "a: [1,\n",
            "is not valid YAML: line 2, column 1: expected the node content, but found '<stream end>'",
        ),
        ("- 1\n", "must be a mapping of keys at the top level, not a list"),
        ("when: 2021-13-45\n", "holds a value YAML cannot read: month must be in 1..12"),
    ],
)
def test_train_and_serve_say_what_is_wrong_with_a_yaml_config_in_one_line(tmp_path, content, expected):
    """`kit.yaml_file.read_yaml_mapping`: PyYAML's several-line message (snippet and caret) was printed
    after `error:` by `winnow train`; every command now gives one line that names the file."""
    (tmp_path / "c.yaml").write_text(content)
    for what, args in (
        ("train config", ("train", "c.yaml", "--tokens", "t", "--out", "out")),
        ("serve config", ("serve", "--config", "c.yaml", "--upstream", "http://127.0.0.1:9/v1")),
    ):
        proc = winnow(tmp_path, *args)
        line = one_error(proc)
        assert proc.stderr.strip().splitlines() == [line]
        assert line.startswith(f"error: {what} c.yaml ") and expected in line


# -- 5, 6, 11, 12: tokenize and dedup inputs, before Ray ------------------------------------------


def test_tokenize_refuses_inputs_it_cannot_read_before_ray(tmp_path):
    (tmp_path / "docs.jsonl.gz").write_bytes(gzip.compress(b'{"text": "a"}\n'))
    (tmp_path / "f.parquet").write_text("x\n")
    (tmp_path / "some.yaml").write_text("a: 1\n")
    jsonl(tmp_path / "content.jsonl", [{"id": "1", "content": DOC}, {"id": "2", "body": DOC}])
    cases = {
        "docs.jsonl.gz": "it is gzip-compressed and tokenize reads plain .jsonl or .parquet — decompress it "
        "first (e.g. zcat docs.jsonl.gz > docs.jsonl)",
        "f.parquet": "f.parquet is not a Parquet file (",
        "some.yaml": "tokenize reads .parquet and .jsonl files (or a run directory)",
        "content.jsonl": "content.jsonl: documents need a 'text' field (found ['body', 'content', 'id'])",
    }
    for name, expected in cases.items():
        line = one_error(winnow(tmp_path, "tokenize", name, "-o", "tokens"))
        assert line.startswith("error: tokenize: ") and expected in line, (name, line)
    assert not (tmp_path / "tokens").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "tokenizer file not found: nope.json — set tokenize.tokenizer.path"),
        ("stages: [ingest]\n", "nope.json is not a tokenizer.json ("),
    ],
    ids=["missing", "not-a-tokenizer"],
)
def test_tokenize_names_a_tokenizer_file_it_cannot_use_before_ray(tmp_path, content, expected):
    if content is not None:
        (tmp_path / "nope.json").write_text(content)
    jsonl(tmp_path / "docs.jsonl", [{"id": "1", "text": DOC}])
    (tmp_path / "tok.yaml").write_text("tokenizer: {path: nope.json}\n")
    line = one_error(winnow(tmp_path, "tokenize", "docs.jsonl", "-o", "tokens", "--config", "tok.yaml"))
    assert expected in line


def test_check_tokenizer_file_is_a_typed_error_for_config_checks(tmp_path):
    from tokenization import TokenizeInputError
    from tokenization.tokenizer import check_tokenizer_file

    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizeInputError, match=r"tokenizer\.json is not a tokenizer\.json"):
        check_tokenizer_file(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizeInputError, match=r"no tokenizer\.json in"):
        check_tokenizer_file(tmp_path / "empty")


def test_dedup_refuses_unreadable_inputs_and_an_output_among_its_inputs_before_ray(tmp_path):
    (tmp_path / "f.parquet").write_text("x\n")
    (tmp_path / "some.yaml").write_text("a: 1\n")
    (tmp_path / "D").mkdir()
    jsonl(tmp_path / "D" / "docs.jsonl", [{"id": "1", "text": DOC}])
    line = one_error(winnow(tmp_path, "dedup", "f.parquet", "-o", "out"))
    assert line.startswith("error: dedup: f.parquet is not a Parquet file (")
    line = one_error(winnow(tmp_path, "dedup", "some.yaml", "-o", "out"))
    assert line.startswith("error: dedup: unsupported input some.yaml: dedup reads .parquet and .jsonl")
    for output, where in [("D", "is input D"), ("D/out", "is inside input D")]:
        line = one_error(winnow(tmp_path, "dedup", "D", "-o", output))
        assert line == (
            f"error: dedup output {output} {where} — give an output directory apart from the inputs, "
            "e.g. -o D-dedup"
        )
    line = one_error(winnow(tmp_path, "dedup", "D/docs.jsonl", "-o", "D"))
    assert line.startswith("error: dedup output D holds input D/docs.jsonl")
    assert sorted(p.name for p in (tmp_path / "D").iterdir()) == ["docs.jsonl"]
    assert not (tmp_path / "out").exists()


# -- 7, 10: report -------------------------------------------------------------------------------


def bare_run(root: Path) -> Path:
    run = root / "run"
    run.mkdir()
    (run / "stats.json").write_text('{"stages": [], "reconciles": true}')
    (run / "config.yaml").write_text("name: bare\n")
    return run


def test_report_refuses_explicit_flags_it_cannot_use(tmp_path):
    bare_run(tmp_path)
    (tmp_path / "dir").mkdir()
    (tmp_path / "bad.yaml").write_text("categories: [\n")
    (tmp_path / "empty.yaml").write_text("name: x\n")
    (tmp_path / "log.jsonl").write_text("not json\n")
    cases = [
        (
            ["-o", "dir"],
            "error: -o dir is a directory — give the report's file name, e.g. -o dir/report.html",
        ),
        (["--policy", "nope.yaml"], "error: cannot read policy nope.yaml: not found — give a policy file"),
        (["--policy", "bad.yaml"], "error: policy bad.yaml is not valid YAML ("),
        (["--policy", "empty.yaml"], "error: policy empty.yaml has no category thresholds"),
        (["--train-log", "nope.jsonl"], "error: cannot read train log nope.jsonl — give the train_log.jsonl"),
        (["--train-log", "log.jsonl"], "error: train log log.jsonl holds no JSON records"),
    ]
    for argv, expected in cases:
        assert one_error(winnow(tmp_path, "report", "run", *argv)).startswith(expected), argv
    assert not (tmp_path / "run" / "report.html").exists()
    policy = str(REPO / "configs" / "policy.yaml")
    proc = winnow(tmp_path, "report", "run", "--policy", policy, "-o", "r.html")
    assert proc.returncode == 0 and (tmp_path / "r.html").is_file(), proc.stderr


def test_report_of_a_directory_that_is_not_a_run_says_what_to_give(tmp_path):
    (tmp_path / "plain").mkdir()
    line = one_error(winnow(tmp_path, "report", "plain"))
    assert line.endswith("give the run directory `winnow run` wrote, e.g. runs/default")


# -- 8, 9 ----------------------------------------------------------------------------------------


def test_python_dash_m_winnow_is_the_winnow_command(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "winnow", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: winnow ")


def test_validate_without_sources_says_they_were_not_checked(tmp_path):
    (tmp_path / "run.yaml").write_text("stages: [ingest]\ningest:\n  sources: [{uri: nothere.jsonl}]\n")
    proc = winnow(tmp_path, "validate", "run.yaml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("run.yaml: valid (sources not checked; add --sources to check them)")
