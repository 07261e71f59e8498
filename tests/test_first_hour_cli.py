"""A newcomer's first mistakes, through the real `winnow` command: one `error:` line, exit 2, before Ray.

Each case runs the installed CLI in a subprocess on configs and files written into tmp_path, with
RAY_TMPDIR pointed into tmp_path, so "before Ray starts" is checked directly: no Ray session
directory appears, and the command ends in well under a Ray start (~19 s on 2 cores).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli_run import WINNOW, one_error, winnow


def write_config(tmp_path: Path, sources: str, extra: str = "") -> str:
    (tmp_path / "run.yaml").write_text(f"stages: [ingest]\ningest:\n  sources: {sources}\n{extra}")
    return "run.yaml"


BAD_SOURCES = [
    ("[{uri: nothere.jsonl}]", "ingest.sources.0: no file matches 'nothere.jsonl'"),
    ("[{uri: one.jsonl}, {uri: 'data/*.jsonl'}]", "ingest.sources.1: no file matches 'data/*.jsonl'"),
    (
        "[{uri: 'file:///nonexistent-winnow/*.wet.gz'}]",
        "no file matches 'file:///nonexistent-winnow/*.wet.gz'",
    ),
    ("[{uri: data}]", "ingest.sources.0: no file matches 'data'"),  # an empty directory
]


@pytest.mark.parametrize("command", [["validate", "--sources"], ["run"]], ids=["validate", "run"])
@pytest.mark.parametrize(("sources", "expected"), BAD_SOURCES, ids=["missing", "glob", "file-glob", "dir"])
def test_a_source_that_matches_no_file_is_refused_before_ray(tmp_path, command, sources, expected):
    (tmp_path / "data").mkdir()
    (tmp_path / "one.jsonl").write_text('{"text": "a document"}\n')
    cfg = write_config(tmp_path, sources)
    line = one_error(winnow(tmp_path, command[0], cfg, *command[1:]))
    assert expected in line
    assert "check the path" in line
    assert not (tmp_path / "runs").exists()


def test_validate_sources_lists_a_remote_glob_and_refuses_an_empty_one(tmp_path):
    """Remote globs are listed by `validate --sources` only (memory:// is empty in a new process)."""
    cfg = write_config(tmp_path, "[{uri: 'memory://winnow-nothing/*.jsonl'}]")
    line = one_error(winnow(tmp_path, "validate", cfg, "--sources"))
    assert line == (
        "error: ingest.sources.0: no file matches 'memory://winnow-nothing/*.jsonl' "
        "— check the path, glob or directory"
    )


def test_an_empty_only_source_is_a_warning_not_an_error(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    proc = winnow(tmp_path, "validate", write_config(tmp_path, "[{uri: empty.jsonl}]"), "--sources")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "warning: ingest.sources.0: 'empty.jsonl' is empty (0 bytes): the run will keep no documents"
    ]
    assert "valid" in proc.stdout and "empty.jsonl" in proc.stdout


@pytest.mark.slow  # starts Ray
def test_a_run_of_an_empty_only_source_warns_first_and_finishes(tmp_path):
    """The warning comes before Ray starts; the run itself (stages on empty input) ends cleanly."""
    (tmp_path / "empty.jsonl").write_bytes(b"")
    cfg = write_config(tmp_path, "[{uri: empty.jsonl}]")
    proc = subprocess.run(  # Ray's default temp dir: a tmp_path one is too long for its sockets
        [WINNOW, "run", cfg, "--run-dir", "out", "--no-report"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.splitlines()[0] == (
        "warning: ingest.sources.0: 'empty.jsonl' is empty (0 bytes): the run will keep no documents"
    )
    assert "Traceback" not in proc.stderr and "error:" not in proc.stderr
    assert "documents in 0 -> out 0" in proc.stdout


def test_a_reused_run_dir_names_what_differs_before_ray(tmp_path):
    from pipeline.config import load_config
    from pipeline.runner import prepare_run_dir

    (tmp_path / "one.jsonl").write_text('{"text": "a document"}\n')
    first = write_config(tmp_path, "[{uri: one.jsonl}]", "  min_text_chars: 1\n")
    prepare_run_dir(load_config(tmp_path / first), str(tmp_path / "out"))  # what a first run leaves
    write_config(tmp_path, "[{uri: one.jsonl}]", "  min_text_chars: 5\nfilter: {mode: runtime}\n")
    line = one_error(winnow(tmp_path, "run", "run.yaml", "--run-dir", "out"))
    assert "ingest.min_text_chars: 1 -> 5" in line
    assert "filter.mode: pretrain -> runtime" in line
    assert "--restart" in line and "--run-dir" in line


def test_a_mistyped_key_gets_the_closest_known_key(tmp_path):
    (tmp_path / "run.yaml").write_text(
        "stages: [ingest, filtr]\ningest:\n  sources: [{uri: a.jsonl, formt: jsonl}]\n  min_text_char: 3\n"
    )
    proc = winnow(tmp_path, "validate", "run.yaml")
    assert one_error(proc) == "error: invalid config run.yaml:"
    assert "ingest.min_text_char: unknown field; did you mean 'min_text_chars'?" in proc.stderr
    assert "ingest.sources.0.formt: unknown field; did you mean 'format'?" in proc.stderr
    assert "unknown stage(s) ['filtr']; did you mean 'filter'?" in proc.stderr


@pytest.mark.parametrize("make_dir", [False, True], ids=["no-such-path", "empty-dir"])
def test_generate_with_a_wrong_checkpoint_path(tmp_path, make_dir):
    if make_dir:
        (tmp_path / "ckpt").mkdir()
    # No Ray here; the limit only allows for importing torch on a busy machine.
    line = one_error(winnow(tmp_path, "generate", "ckpt", "--prompt", "hello", limit_s=60))
    assert line.startswith("error: no checkpoint at ckpt: it ")
    assert "winnow train" in line


def test_a_mistyped_dedup_option_is_one_error_line(tmp_path):
    (tmp_path / "dedup.yaml").write_text("minhash: {treshold: 0.8}\n")
    proc = winnow(tmp_path, "dedup", "--config", "dedup.yaml", "--explain")
    assert one_error(proc) == "error: invalid config dedup.yaml:"
    assert "minhash.treshold: unknown field; did you mean 'threshold'?" in proc.stderr


def test_train_with_a_wrong_config_or_tokens_dir(tmp_path, repo_root):
    """Checked before torch loads: no traceback from deep inside the trainer."""
    tiny = str(repo_root / "configs" / "moe-tiny.yaml")
    line = one_error(winnow(tmp_path, "train", "nope.yaml", "--tokens", "tokens", "--out", "o", limit_s=60))
    assert line.startswith("error: train config not found: nope.yaml")
    line = one_error(winnow(tmp_path, "train", tiny, "--tokens", "tokens", "--out", "o", limit_s=60))
    assert line.startswith("error: no manifest.json in tokens — give the tokens directory")
    (tmp_path / "typo.yaml").write_text("model: {dim: 64, n_layer: 3}\ntrain: {steps: 5}\n")
    proc = winnow(tmp_path, "train", "typo.yaml", "--tokens", "tokens", "--out", "o", limit_s=60)
    assert one_error(proc) == "error: invalid config typo.yaml:"
    assert "model.n_layer: unknown field; did you mean 'n_layers'?" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_stats_and_tokenize_of_a_path_that_is_not_a_run(tmp_path):
    (tmp_path / "plain").mkdir()
    assert one_error(winnow(tmp_path, "stats", "nope")).startswith("error: no stats.json in nope — ")
    line = one_error(winnow(tmp_path, "tokenize", "nope.jsonl", "-o", "tokens"))
    assert line == "error: no such file or run directory: nope.jsonl — check the path"
    line = one_error(winnow(tmp_path, "tokenize", "plain", "-o", "tokens"))
    assert line.startswith("error: plain is not a run directory (no config.yaml)")
    assert not (tmp_path / "tokens").exists()


def test_a_missing_options_file_is_one_error_line(tmp_path):
    line = one_error(winnow(tmp_path, "dedup", "--config", "nope.yaml", "--explain"))
    assert line == "error: --config nope.yaml not found: check the path"


def test_a_first_config_of_plain_paths_and_no_policy_is_valid(tmp_path):
    """What people write first: sources as plain paths, no filter section (the shipped policy)."""
    (tmp_path / "docs.jsonl").write_text('{"text": "hello"}\n')
    (tmp_path / "run.yaml").write_text("ingest:\n  sources: [docs.jsonl]\n")
    proc = winnow(tmp_path, "validate", "run.yaml", "--sources")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "docs.jsonl" in proc.stdout

    from filters.policy import DEFAULT_POLICY
    from pipeline.config import load_config

    cfg = load_config(tmp_path / "run.yaml")
    assert cfg.ingest.sources[0].uri == "docs.jsonl"
    assert Path(cfg.policy_path()) == DEFAULT_POLICY


# -- malformed input lines: counted and named, the good lines kept ---------------------------------

MALFORMED = [
    '{"id": "a", "text": "the first good document"}',
    '{"id": "b", "text": "unterminated',
    "not json at all",
    "[1, 2]",
    '{"id": "c", "text": "the last good document"}',
]


def test_dedup_keeps_the_good_lines_and_quarantines_the_malformed_ones(tmp_path):
    import json

    import pyarrow.parquet as pq

    (tmp_path / "mal.jsonl").write_text("\n".join(MALFORMED) + "\n")
    (tmp_path / "dedup.yaml").write_text("use_ray: false\n")
    quiet = {"WINNOW_PROGRESS_EVERY": "3600"}  # stderr below holds the warnings only
    proc = winnow(tmp_path, "dedup", "mal.jsonl", "-o", "out", "--config", "dedup.yaml", env=quiet)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "error:" not in proc.stderr
    stats = json.loads(proc.stdout)
    assert (stats["documents_in"], stats["kept"], stats["quarantined"]) == (5, 2, 3)
    assert pq.read_table(tmp_path / "out" / "kept").column("id").to_pylist() == ["a", "c"]
    quarantine = pq.read_table(tmp_path / "out" / "quarantine").to_pylist()
    assert [(r["source"], r["line"]) for r in quarantine] == [
        ("mal.jsonl", 2),
        ("mal.jsonl", 3),
        ("mal.jsonl", 4),
    ]
    warnings = proc.stderr.splitlines()
    assert warnings[0].startswith("warning: 3 malformed input line(s) left out (written to out/quarantine/")
    assert "warning:   mal.jsonl: line 2: malformed JSON: Unterminated string" in warnings[1]
    assert warnings[3] == "warning:   mal.jsonl: line 4: expected a JSON object, got list"


def test_dedup_of_jsonl_that_is_not_one_table_is_one_error_line(tmp_path):
    (tmp_path / "mixed.jsonl").write_text(
        '{"id": "a", "text": "x", "n": [1]}\n{"id": "b", "text": "y", "n": ["z"]}\n'
    )
    (tmp_path / "dedup.yaml").write_text("use_ray: false\n")
    line = one_error(winnow(tmp_path, "dedup", "mixed.jsonl", "-o", "out", "--config", "dedup.yaml"))
    assert line.startswith("error: dedup: cannot read mixed.jsonl: field 'n' changes type between lines")
    assert line.endswith("give each field one type on every line, or convert the file to Parquet")


def test_dedup_reads_long_lines_and_lone_surrogates_and_forgets_an_old_quarantine(tmp_path):
    """Lines Arrow's JSON reader refuses but that are documents (longer than its 1 MiB block, a lone
    surrogate escape) are kept (the surrogate as "?", as ingest stores it); a rerun into the same
    output without bad lines leaves no quarantine part behind."""
    import json

    import pyarrow.parquet as pq

    long_text = "word " * 300_000  # 1.5 MB on one line
    lines = [
        json.dumps({"id": "long", "text": long_text}),
        '{"id": "sur", "text": "a lone \\ud800 surrogate", "extra": 1}',
        "{broken",
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "dedup.yaml").write_text("use_ray: false\n")
    proc = winnow(tmp_path, "dedup", "in.jsonl", "-o", "out", "--config", "dedup.yaml")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert (stats["documents_in"], stats["kept"], stats["quarantined"]) == (3, 2, 1)
    kept = {r["id"]: r for r in pq.read_table(tmp_path / "out" / "kept").to_pylist()}
    assert kept["sur"]["text"] == "a lone ? surrogate" and kept["long"]["text"] == long_text
    (tmp_path / "in.jsonl").write_text("\n".join(lines[:2]) + "\n")
    proc = winnow(tmp_path, "dedup", "in.jsonl", "-o", "out", "--config", "dedup.yaml")
    assert proc.returncode == 0 and json.loads(proc.stdout)["quarantined"] == 0, proc.stderr
    assert not list((tmp_path / "out" / "quarantine").glob("*.parquet"))


# -- outputs that cannot be written: refused before any work ---------------------------------------


def test_an_output_path_that_is_a_file_is_refused_before_ray(tmp_path, repo_root):
    (tmp_path / "afile").write_text("")
    (tmp_path / "one.jsonl").write_text('{"id": "1", "text": "a document"}\n')
    cfg = write_config(tmp_path, "[{uri: one.jsonl}]")
    tiny = str(repo_root / "configs" / "moe-tiny.yaml")
    for argv, shown in [
        (["run", cfg, "--run-dir", "afile"], "--run-dir afile must be a directory"),
        (["run", cfg, "--run-dir", "afile/run"], "--run-dir afile/run must be inside a directory"),
        (["dedup", "one.jsonl", "-o", "afile"], "-o afile must be a directory"),
        (["tokenize", "one.jsonl", "-o", "afile"], "-o afile must be a directory"),
        (["report", "somerun", "-o", "afile/r.html"], "-o afile/r.html must be inside a directory"),
        (["filter", "score", "one.jsonl", "-o", "afile/out.jsonl"], "-o afile/out.jsonl must be inside"),
        (["train", tiny, "--tokens", "tokens", "--out", "afile/o"], "--out afile/o must be inside"),
    ]:
        line = one_error(winnow(tmp_path, *argv))
        assert line.startswith(f"error: afile is a file, not a directory: {shown}"), (argv, line)
        assert line.endswith("give another path or move the file")
    assert not (tmp_path / "runs").exists() and (tmp_path / "afile").read_text() == ""


def test_tokenize_into_a_finished_tokens_dir_names_overwrite_before_ray(tmp_path):
    (tmp_path / "one.jsonl").write_text('{"text": "a document"}\n')
    (tmp_path / "tokens").mkdir()
    (tmp_path / "tokens" / "manifest.json").write_text("{}")
    line = one_error(winnow(tmp_path, "tokenize", "one.jsonl", "-o", "tokens"))
    assert line == "error: tokens exists: pass --overwrite to replace it (or give another -o)"
    assert (tmp_path / "tokens" / "manifest.json").read_text() == "{}"


# -- numbers out of range, bad URLs, bad policies: one line each ------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["generate", "ckpt", "--top-k", "0"], "error: --top-k must be >= 1, got 0"),
        (["generate", "ckpt", "--max-new-tokens", "-5"], "error: --max-new-tokens must be >= 1, got -5"),
        (
            ["generate", "ckpt", "--temperature", "-1"],
            "error: --temperature must be >= 0 (0 = greedy), got -1.0",
        ),
        (
            ["train", "c.yaml", "--tokens", "t", "--out", "o", "--max-steps", "-1"],
            "error: --max-steps must be >= 1, got -1",
        ),
    ],
    ids=["top-k", "max-new-tokens", "temperature", "max-steps"],
)
def test_an_option_out_of_range_is_one_error_line(tmp_path, argv, expected):
    assert one_error(winnow(tmp_path, *argv)) == expected


def test_serve_refuses_an_upstream_that_is_not_an_http_url(tmp_path):
    line = one_error(winnow(tmp_path, "serve", "--upstream", "notaurl"))
    assert line.startswith("error: --upstream: 'notaurl' is not an http:// or https:// URL;")


def test_serve_names_a_broken_policy_once(tmp_path):
    (tmp_path / "bad.yaml").write_text("foo: bar\n")
    argv = ["serve", "--upstream", "http://127.0.0.1:9/v1", "--policy", "bad.yaml", "--port", "0"]
    line = one_error(winnow(tmp_path, *argv))
    assert line.startswith("error: policy bad.yaml: categories: Field required")
    assert line.count("bad.yaml") == 1
