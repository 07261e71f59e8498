"""A newcomer's first-hour mistakes with `winnow run` / `winnow validate`, each one `error:` line (exit 2,
no traceback, before Ray starts) or, for a run that works but reads nothing of a source, a `warning:`.

The CLI cases run the installed `winnow` in a subprocess with RAY_TMPDIR inside tmp_path, so "before
Ray starts" is checked directly: no Ray session directory appears.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit.ray_local import RayUnreachableError, check_reachable, cluster_endpoint, cluster_to_join
from pipeline import storage
from pipeline.config import ConfigError, load_config, yaml_error_line
from pipeline.layout import StagePaths
from pipeline.ledger import StageStats
from tests.cli_run import FAST_S, WINNOW, winnow
from tests.cli_run import one_error as _one_error


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The refusal's `error:` line, with nothing else on stderr."""
    return _one_error(proc, alone=True)


GOOD_LINE = '{"text": "a document with some words in it"}\n'


def write_run_config(tmp_path: Path, extra: str = "", stages: str = "[ingest]") -> str:
    """run.yaml over one good JSONL source; `extra` appends top-level sections."""
    (tmp_path / "one.jsonl").write_text(GOOD_LINE)
    (tmp_path / "run.yaml").write_text(f"stages: {stages}\ningest:\n  sources: [one.jsonl]\n{extra}")
    return "run.yaml"


def closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- 1. a Ray address that does not answer ------------------------------------------------------------


def test_a_closed_port_is_unreachable_in_well_under_a_second():
    port = closed_port()
    start = time.monotonic()
    with pytest.raises(RayUnreachableError) as info:
        check_reachable(f"127.0.0.1:{port}", from_env=True)
    assert time.monotonic() - start < 2
    assert info.value.address == f"127.0.0.1:{port}" and info.value.from_env
    assert "refused" in info.value.reason


def test_a_listening_port_is_reachable():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}", from_env=False)


@pytest.mark.parametrize(
    ("address", "endpoint"),
    [
        ("10.0.0.5:6380", ("10.0.0.5", 6380)),
        ("ray://head-node:10002", ("head-node", 10002)),
        ("[::1]:6379", ("::1", 6379)),
        ("anyscale://my-cluster", None),  # a Ray Client plugin resolves its own
    ],
)
def test_cluster_endpoint(address, endpoint):
    assert cluster_endpoint(address) == endpoint


@pytest.mark.parametrize(
    "address", ["head:port", ":6379", "head:99999", "head-node", "localhost", "ray://head-node", "::1"]
)
def test_an_address_that_is_not_host_port_is_unreachable(address):
    """Ray invents no port for a bare host (`ray.init` raises "Invalid address format"): neither do we."""
    with pytest.raises(RayUnreachableError) as info:
        check_reachable(address, from_env=False)
    assert info.value.reason == (
        "it is not HOST:PORT; give HOST:PORT (the head's GCS port, 6379 by default) or ray://HOST:10001"
    )


@pytest.mark.parametrize("address", ["http://10.0.0.1:8265", "https://head.example.com"])
def test_the_dashboard_url_is_refused_with_what_to_give(address):
    with pytest.raises(RayUnreachableError) as info:
        check_reachable(address, from_env=True)
    assert info.value.reason == (
        "that is the dashboard / job-submission URL (for `ray job submit`); give HOST:6379 or ray://HOST:10001"
    )


@pytest.fixture
def no_running_raylet(tmp_path, monkeypatch) -> Path:
    """`auto` as Ray resolves it, seeing no raylet on this machine: only RAY_TMPDIR's `ray_current_cluster`
    (returned, not yet written) counts."""
    import ray._private.services as services

    monkeypatch.setattr(services, "find_gcs_addresses", lambda: frozenset())
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    (tmp_path / "ray").mkdir()
    return tmp_path / "ray" / "ray_current_cluster"


def test_auto_without_a_running_cluster_says_to_start_one(no_running_raylet):
    with pytest.raises(RayUnreachableError) as info:
        cluster_to_join("auto", from_env=True)
    assert (info.value.address, info.value.from_env) == ("auto", True)
    assert info.value.reason == "no running Ray cluster found; start one with `ray start --head`"


def test_auto_naming_a_stale_cluster_is_unreachable_in_well_under_a_second(no_running_raylet):
    port = closed_port()
    no_running_raylet.write_text(f"127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(RayUnreachableError) as info:
        cluster_to_join("auto", from_env=False)
    assert time.monotonic() - start < 2
    assert info.value.address == "auto"
    assert info.value.reason == f"connection refused at 127.0.0.1:{port}, the cluster Ray found for it"


def test_auto_joins_the_cluster_ray_finds(no_running_raylet):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        no_running_raylet.write_text(f"127.0.0.1:{server.getsockname()[1]}")
        assert cluster_to_join("auto", from_env=False) == f"127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("address", [None, "", "local"])
def test_no_address_or_local_is_our_own_local_ray(address):
    assert cluster_to_join(address, from_env=True) is None


def test_run_with_an_address_nobody_answers_is_one_error_line(tmp_path):
    address = f"127.0.0.1:{closed_port()}"
    line = one_error(
        winnow(tmp_path, "run", write_run_config(tmp_path), "--run-dir", "out", "--address", address)
    )
    assert line.startswith(f"error: cannot reach the Ray cluster at {address} (from --address")
    assert "check the address" in line


def test_run_with_a_stale_ray_address_says_to_unset_it(tmp_path):
    address = f"127.0.0.1:{closed_port()}"
    proc = winnow(
        tmp_path, "run", write_run_config(tmp_path), "--run-dir", "out", env={"RAY_ADDRESS": address}
    )
    line = one_error(proc)
    assert line.startswith(f"error: cannot reach the Ray cluster at {address} (from RAY_ADDRESS")
    assert line.endswith("check the address, or unset RAY_ADDRESS to run locally")


def test_a_ray_client_address_nobody_answers_is_one_error_line(tmp_path):
    address = f"ray://127.0.0.1:{closed_port()}"
    proc = winnow(
        tmp_path, "run", write_run_config(tmp_path), "--run-dir", "out", env={"RAY_ADDRESS": address}
    )
    assert f"cannot reach the Ray cluster at {address}" in one_error(proc)


@pytest.mark.parametrize(
    ("env", "args", "reason"),
    [
        (
            {"RAY_ADDRESS": "http://127.0.0.1:8265"},
            [],
            "from RAY_ADDRESS: that is the dashboard / job-submission URL",
        ),
        (
            {},
            ["--address", "localhost"],
            "from --address or the config's ray.address: it is not HOST:PORT; give ",
        ),
    ],
    ids=["dashboard-url", "bare-host"],
)
def test_an_address_ray_would_refuse_with_a_traceback_is_one_error_line(tmp_path, env, args, reason):
    proc = winnow(tmp_path, "run", write_run_config(tmp_path), "--run-dir", "out", *args, env=env)
    assert reason in one_error(proc)


def test_run_with_ray_address_auto_naming_a_stale_cluster_is_one_error_line(tmp_path):
    """The driver sees no raylet (patched: other Ray users of this machine must not count) and the
    `ray_current_cluster` file of a cluster that is gone."""
    ray_tmp = tmp_path / "rt"
    (ray_tmp / "ray").mkdir(parents=True)
    (ray_tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{closed_port()}")
    patched = (
        "import sys, ray._private.services as s; s._find_address_from_flag = lambda flag: set(); "
        "from winnow.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_ADDRESS="auto", RAY_TMPDIR=str(ray_tmp))
    args = ["run", write_run_config(tmp_path), "--run-dir", "out"]
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", patched, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - start < FAST_S
    line = one_error(proc)
    assert line.startswith(
        "error: cannot reach the Ray cluster at auto (from RAY_ADDRESS: connection refused at "
    )
    assert os.listdir(ray_tmp / "ray") == ["ray_current_cluster"], "Ray was started"


# -- 2. a run config path that is no YAML file --------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_directory_as_the_config_names_a_config_file(tmp_path, command):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.yaml").write_text("")
    line = one_error(winnow(tmp_path, command, "configs"))
    assert line == "error: configs is a directory; give a config file such as configs/default.yaml"


def test_a_directory_without_a_default_names_the_shipped_example(tmp_path):
    with pytest.raises(ConfigError, match=r"is a directory; give a config file such as configs/default.yaml"):
        load_config(tmp_path)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_config_that_is_not_utf8_names_the_byte(tmp_path, command):
    (tmp_path / "run.yaml").write_bytes(b"name: x\nstages: [ingest]\xff\n")
    line = one_error(winnow(tmp_path, command, "run.yaml"))
    assert line.startswith("error: run.yaml is not UTF-8 text (byte 24, line 2); ")


def test_a_missing_config_names_the_shipped_example(tmp_path):
    line = one_error(winnow(tmp_path, "validate", "nope.yaml"))
    assert line == (
        "error: config file not found: nope.yaml; check the path (the shipped example is configs/default.yaml)"
    )


def test_a_yaml_syntax_error_is_one_line_with_line_and_column(tmp_path):
    (tmp_path / "run.yaml").write_text("name: [x\ningest:\n  sources: [a.jsonl]\n")
    line = one_error(winnow(tmp_path, "validate", "run.yaml"))
    assert line == (
        "error: config run.yaml is not valid YAML: line 2, column 7: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence at line 1, column 7)"
    )


def test_yaml_error_line_without_a_context():
    import yaml

    with pytest.raises(yaml.YAMLError) as info:
        yaml.safe_load("a: 1\n b: 2\n")
    assert yaml_error_line(info.value) == "line 2, column 3: mapping values are not allowed here"


# -- 3. a tokenizer file that the tokenize stage could not load ---------------------------------------


def save_tokenizer(path: Path, specials: list[str], *, bom: bool = False) -> Path:
    """A minimal `tokenizers` JSON with the given special tokens."""
    from tokenizers import Tokenizer, models

    tok = Tokenizer(models.BPE())
    tok.add_special_tokens(specials)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + tok.to_str().encode())
    return path


def tokenizer_config(tmp_path: Path, path: str, stages: str = "[ingest, tokenize]") -> str:
    return write_run_config(tmp_path, f"tokenize:\n  tokenizer: {{path: {path}}}\n", stages=stages)


def validate_error(tmp_path: Path, path: str) -> str:
    """The field line of `winnow validate`'s refusal (after `error: invalid config run.yaml:`)."""
    proc = winnow(tmp_path, "validate", tokenizer_config(tmp_path, path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "error: invalid config run.yaml:" and len(lines) == 2, proc.stderr
    return lines[1]


ACTION = (
    "set tokenize.tokenizer.path to a Hugging Face tokenizer.json (or a directory holding one), "
    "or leave it out to train one"
)


def test_a_missing_tokenizer_is_refused_by_validate(tmp_path):
    line = validate_error(tmp_path, "nope/tokenizer.json")
    assert (
        line
        == f"  tokenize.tokenizer.path: tokenizer file not found: {tmp_path}/nope/tokenizer.json — {ACTION}"
    )


def test_a_directory_without_tokenizer_json_is_refused(tmp_path):
    (tmp_path / "tok").mkdir()
    assert (
        validate_error(tmp_path, "tok")
        == f"  tokenize.tokenizer.path: no tokenizer.json in {tmp_path}/tok — {ACTION}"
    )


def test_a_file_that_is_not_a_tokenizer_is_refused(tmp_path):
    line = validate_error(tmp_path, "one.jsonl")
    assert line.startswith(f"  tokenize.tokenizer.path: {tmp_path}/one.jsonl is not a tokenizer.json (")


def test_a_tokenizer_without_the_eos_token_is_refused(tmp_path):
    save_tokenizer(tmp_path / "tok" / "tokenizer.json", ["<s>", "</s>"])
    line = validate_error(tmp_path, "tok")
    assert line.startswith("  tokenize.tokenizer: the tokenizer has no EOS token '<|eos|>' (needed to join ")
    assert (
        "set tokenize.tokenizer.eos_token to one of its tokens, e.g. its special tokens ['</s>', '<s>']"
        in line
    )


def test_add_bos_without_the_bos_token_is_refused(tmp_path):
    save_tokenizer(tmp_path / "tok" / "tokenizer.json", ["<|eos|>"])
    config = write_run_config(
        tmp_path, "tokenize:\n  tokenizer: {path: tok, add_bos: true}\n", stages="[ingest, tokenize]"
    )
    with pytest.raises(
        ConfigError, match=r"tokenize\.tokenizer: add_bos is set but the tokenizer has no BOS"
    ):
        load_config(tmp_path / config)


@pytest.mark.parametrize("content", [None, "not json"], ids=["missing", "not-a-tokenizer"])
def test_validate_and_tokenize_give_one_message_for_one_tokenizer_mistake(tmp_path, content):
    """The run config's check is the tokenize stage's own (`tokenization.tokenizer`), message and all."""
    if content is not None:
        (tmp_path / "tok.json").write_text(content)
    field_line = validate_error(tmp_path, "tok.json")
    (tmp_path / "tok.yaml").write_text(f"tokenizer: {{path: {tmp_path}/tok.json}}\n")
    line = one_error(winnow(tmp_path, "tokenize", "one.jsonl", "-o", "tokens", "--config", "tok.yaml"))
    assert field_line.removeprefix("  tokenize.tokenizer.path: ") == line.removeprefix("error: tokenize: ")


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "byte-order-mark"])
def test_a_loadable_tokenizer_is_valid(tmp_path, bom):
    save_tokenizer(tmp_path / "tok" / "tokenizer.json", ["<|eos|>"], bom=bom)
    proc = winnow(tmp_path, "validate", tokenizer_config(tmp_path, "tok"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("run.yaml: valid")


def test_the_tokenizer_is_not_checked_when_tokenize_does_not_run(tmp_path):
    load_config(tmp_path / tokenizer_config(tmp_path, "nope.json", stages="[ingest]"))


# -- 4. a source of which every record is quarantined -------------------------------------------------


def ingest_here(cfg, run_dir: str, previous: str | None) -> StageStats:
    """The ingest stage without Ray: every source in this process, each unit marked like Ray's."""
    from pipeline.stages.ingest import expand_sources, ingest_source, source_part
    from pipeline.stages.mapping import make_and_mark

    paths = StagePaths(run_dir, "ingest")
    total = StageStats(name="ingest")
    for i, src in enumerate(expand_sources(cfg)):
        total.merge(make_and_mark(ingest_source, paths, source_part(i), i, src, cfg.ingest, run_dir))
    return total


@pytest.fixture
def mixed_sources(tmp_path: Path) -> Path:
    """A good source, a source with one bad line of three, and prose read as JSONL (all bad)."""
    (tmp_path / "good.jsonl").write_text(GOOD_LINE)
    (tmp_path / "some_bad.jsonl").write_text(GOOD_LINE + "not json\n" + GOOD_LINE)
    (tmp_path / "README.md").write_text("# Title\n\nSome prose.\n\nMore prose.\n")
    (tmp_path / "run.yaml").write_text(
        "stages: [ingest]\ningest:\n  sources:\n    - good.jsonl\n    - some_bad.jsonl\n"
        "    - {uri: README.md, format: jsonl}\n"
    )
    return tmp_path / "run.yaml"


def test_a_wholly_quarantined_source_is_one_warning_at_the_end(tmp_path, mixed_sources, monkeypatch):
    from pipeline import runner

    monkeypatch.setattr(runner, "stage_function", lambda name: ingest_here)
    warnings: list[str] = []
    result = runner.run_pipeline(
        load_config(mixed_sources), str(tmp_path / "out"), say=lambda _: None, warn=warnings.append
    )
    assert result.ledger["reconciles"] and result.stages[0].quarantined == 4
    assert warnings == [
        "warning: source README.md: all 3 records quarantined (first reason: line 1: malformed JSON: "
        "Expecting value (column 1)); check its format/path"
    ]


def test_no_warning_when_each_source_kept_something(tmp_path):
    from pipeline.runner import quarantined_source_warnings

    (tmp_path / "some_bad.jsonl").write_text(GOOD_LINE + "not json\n")
    (tmp_path / "run.yaml").write_text("stages: [ingest]\ningest:\n  sources: [some_bad.jsonl]\n")
    run_dir = str(tmp_path / "out")
    stats = ingest_here(load_config(tmp_path / "run.yaml"), run_dir, None)
    assert stats.quarantined == 1
    assert quarantined_source_warnings([stats], run_dir) == []


def test_many_wholly_quarantined_sources_are_capped(tmp_path, monkeypatch):
    from pipeline import runner

    for i in range(4):
        (tmp_path / f"bad{i}.jsonl").write_text("not json\n")
    (tmp_path / "run.yaml").write_text("stages: [ingest]\ningest:\n  sources: ['bad*.jsonl']\n")
    run_dir = str(tmp_path / "out")
    stats = ingest_here(load_config(tmp_path / "run.yaml"), run_dir, None)
    monkeypatch.setattr(runner, "MAX_SOURCE_WARNINGS", 2)
    warnings = runner.quarantined_source_warnings([stats], run_dir)
    assert len(warnings) == 3
    assert warnings[0].startswith("warning: source bad0.jsonl: its only record quarantined (first reason: ")
    assert warnings[2] == (
        f"warning: and 2 more sources with every record quarantined; see {run_dir}/quarantine/ingest"
    )


@pytest.mark.slow  # starts Ray
def test_a_run_that_quarantines_a_whole_source_warns_and_exits_0(tmp_path, mixed_sources):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run(  # Ray's default temp dir: a tmp_path one is too long for its sockets
        [WINNOW, "run", mixed_sources.name, "--run-dir", "out", "--no-report"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: source README.md: all 3 records quarantined (first reason: line 1: malformed JSON: "
        "Expecting value (column 1)); check its format/path"
    ]


# -- 5. a run directory another run is writing --------------------------------------------------------


def test_a_busy_run_dir_is_refused_before_ray(tmp_path):
    cfg = write_run_config(tmp_path)
    with storage.run_dir_lock(str(tmp_path / "out")):
        proc = winnow(tmp_path, "run", cfg, "--run-dir", "out")
    line = one_error(proc)
    assert (
        line
        == f"error: out is in use by a running winnow (pid {os.getpid()}); wait for it to finish, or use another --run-dir"
    )
    assert "winnow: running" not in proc.stdout


def test_checking_a_free_run_dir_creates_nothing(tmp_path):
    storage.check_run_dir_free(str(tmp_path / "out"))
    assert list(tmp_path.iterdir()) == []
    with storage.run_dir_lock(str(tmp_path / "out")):
        pass
    storage.check_run_dir_free(str(tmp_path / "out"))  # a lock file no run holds
