"""`winnow serve` set-up mistakes are one `error:` line, exit 2, before the server starts; an unreachable
upstream is a 502 with its reason and one log line; the server says when and what it serves."""

from __future__ import annotations

import errno
import logging
import os
import queue
import re
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

import server.app
import winnow.serve
from server.app import create_app
from server.backends import GenRequest, UpstreamUnreachable
from server.config import ServeConfig
from server.testing import ServerThread
from winnow.cli import build_parser
from winnow.serve import _announce

REPO = Path(__file__).resolve().parents[1]
POLICY = str(REPO / "configs" / "policy.yaml")
WINNOW = str(Path(sys.executable).parent / "winnow")
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


def _must_not_start(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the server started: the mistake was not refused")


def _serve_error(capsys, monkeypatch, *argv: str) -> str:
    """Run `winnow serve ARGV` in this process (the server must not start): its one `error:` line."""
    monkeypatch.setattr(server.app, "serve", _must_not_start)
    args = build_parser().parse_args(["serve", *argv])
    code = args.func(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another server listens on (with SO_REUSEADDR, as servers set it)."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def _closed_port() -> int:
    """A port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- 1. the address to listen on --------------------------------------------------------------------


def test_a_port_in_use_is_one_error_line(capsys, monkeypatch, taken_port):
    line = _serve_error(
        capsys, monkeypatch, "--upstream", "http://127.0.0.1:9/v1", "--no-filter", "--port", str(taken_port)
    )
    assert re.fullmatch(
        rf"error: port {taken_port} is in use; pass --port \d+ or stop the other server", line
    ), line
    suggested = int(line.split("--port ")[1].split()[0])
    with socket.socket() as s:  # the suggestion was free (and the refused run left nothing bound)
        s.bind(("127.0.0.1", suggested))


def test_a_port_taken_while_the_model_loaded_is_one_error_line(capsys, monkeypatch):
    """The port is bound (not listened on) while the app builds: another server may take it meanwhile."""
    taken: list[socket.socket] = []

    def app_taking_the_port(cfg: ServeConfig) -> object:
        other = socket.socket()
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", cfg.port))
        other.listen()
        taken.append(other)
        return object()

    port = _closed_port()
    monkeypatch.setattr(winnow.serve, "_app", app_taking_the_port)
    try:
        line = _serve_error(capsys, monkeypatch, "--upstream", "http://127.0.0.1:9/v1", "--port", str(port))
    finally:
        for other in taken:
            other.close()
    assert line.startswith(f"error: port {port} is in use; pass --port "), line


def test_a_host_that_is_not_an_address_is_one_error_line(capsys, monkeypatch):
    line = _serve_error(capsys, monkeypatch, "--upstream", "http://127.0.0.1:9/v1", "--host", "999.1.1.1")
    assert line.startswith("error: cannot listen on 999.1.1.1:8000: "), line
    assert line.endswith("; pass --host with an address of this machine, e.g. 127.0.0.1 or 0.0.0.0")


def _serve_sockets(monkeypatch, *argv: str) -> list[socket.socket]:
    """Run `winnow serve ARGV` in this process up to the server's start: the sockets it would serve on."""
    handed: list[socket.socket] = []
    monkeypatch.setattr(winnow.serve, "_app", lambda cfg: object())
    monkeypatch.setattr(server.app, "serve", lambda cfg, app, sockets, on_ready: handed.extend(sockets))
    args = build_parser().parse_args(["serve", "--upstream", "http://127.0.0.1:9/v1", *argv])
    assert args.func(args) == 0
    return handed


def _ipv6_loopback() -> str | None:
    """Why ::1 cannot be bound here (no IPv6 in Python, or the bind fails), else None."""
    if not socket.has_ipv6:
        return "socket.has_ipv6 is False: this Python has no IPv6"
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as e:
        return f"binding ::1 failed ({e}): this machine has no IPv6 loopback"
    return None


def _ipv6_sockets() -> bool:
    try:
        socket.socket(socket.AF_INET6).close()
    except OSError:
        return False
    return True


@pytest.fixture
def dual_stack_host(monkeypatch) -> str:
    """A host name resolving to 127.0.0.1 and ::1, as `localhost` does on a dual-stack machine (here it
    may resolve to one of them only)."""
    why = _ipv6_loopback()
    if why:
        pytest.skip(f"dual-stack port 0 needs ::1: {why}")
    real = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        if host == "dual.test":
            return real("127.0.0.1", *args, **kwargs) + real("::1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "dual.test"


def _one_port(sockets: list[socket.socket]) -> int:
    ports = {s.getsockname()[1] for s in sockets}
    assert len(ports) == 1 and 0 not in ports, [s.getsockname() for s in sockets]
    return ports.pop()


def test_port_0_is_one_port_on_every_address_of_the_host(monkeypatch, dual_stack_host):
    """Each family bound to port 0 got its own random port: one server announced on two ports."""
    sockets = _serve_sockets(monkeypatch, "--host", dual_stack_host, "--port", "0", "--no-filter")
    try:
        assert sorted(s.family for s in sockets) == [socket.AF_INET, socket.AF_INET6]
        port = _one_port(sockets)
        for address in ("127.0.0.1", "::1"):  # both listen on it
            socket.create_connection((address, port), timeout=5).close()
    finally:
        winnow.serve._close(sockets)


def test_port_0_taken_in_the_second_family_is_tried_again(monkeypatch, dual_stack_host):
    """The first family's free port may be in use in the other: a new port, not "port 0 is in use"."""
    real_bound, calls = winnow.serve._bound, []

    def bound_once_taken(family: int, *args: object) -> socket.socket:
        calls.append(family)
        if len(calls) == 2:
            raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
        return real_bound(family, *args)

    monkeypatch.setattr(winnow.serve, "_bound", bound_once_taken)
    sockets = _serve_sockets(monkeypatch, "--host", dual_stack_host, "--port", "0", "--no-filter")
    try:
        assert len(calls) == 4 and len(sockets) == 2
        _one_port(sockets)
    finally:
        winnow.serve._close(sockets)


def test_an_empty_host_is_every_interface_as_before(monkeypatch):
    """asyncio (and so uvicorn) read `--host ""` as every interface; getaddrinfo("") fails instead."""
    sockets = _serve_sockets(monkeypatch, "--host", "", "--port", "0", "--no-filter")
    try:
        hosts = {s.getsockname()[0] for s in sockets}
        assert hosts == ({"0.0.0.0", "::"} if _ipv6_sockets() else {"0.0.0.0"}), hosts
        port = _one_port(sockets)
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        winnow.serve._close(sockets)


def test_an_empty_host_without_ipv6_is_every_ipv4_interface(monkeypatch):
    """getaddrinfo gives "" a :: address also where the kernel has no IPv6; asyncio skipped it."""
    real = socket.socket

    def no_ipv6(family: int = socket.AF_INET, *args: object, **kwargs: object) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, os.strerror(errno.EAFNOSUPPORT))
        return real(family, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", no_ipv6)
    sockets = _serve_sockets(monkeypatch, "--host", "", "--port", "0", "--no-filter")
    try:
        assert [s.getsockname()[0] for s in sockets] == ["0.0.0.0"]
    finally:
        winnow.serve._close(sockets)


# -- 2. one model source ----------------------------------------------------------------------------


def test_checkpoint_and_upstream_together_are_refused(capsys, monkeypatch, tmp_path):
    argv = ["--checkpoint", str(tmp_path), "--upstream", "http://127.0.0.1:9/v1", "--no-filter"]
    line = _serve_error(capsys, monkeypatch, *argv)
    assert line == "error: give --checkpoint or --upstream, not both"


# -- 3. an unreachable upstream ---------------------------------------------------------------------


def test_an_unreachable_upstream_is_a_502_with_its_reason_and_one_log_line(caplog, capfd):
    cfg = ServeConfig(
        backend="upstream",
        upstream_url=f"http://127.0.0.1:{_closed_port()}/v1",
        policy=POLICY,
        filter_enabled=False,
    )
    caplog.set_level(logging.INFO, logger="winnow.serve")
    with ServerThread(create_app(cfg)) as srv:
        whole = httpx.post(srv.url + "/v1/chat/completions", json=CHAT, timeout=30)
        streamed = httpx.post(srv.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=30)
        health = httpx.get(srv.url + "/healthz").json()
    expected = {"message": "upstream unreachable: Connection refused", "type": "upstream_error"}
    assert whole.status_code == 502 and whole.json() == {"error": expected}
    events = [line for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert (
        events[-1] == 'data: {"error": {"message": "upstream unreachable: Connection refused", '
        '"type": "upstream_error"}}'
    )
    assert health["status"] == "degraded" and health["backend_error"] == expected["message"]
    records = [r for r in caplog.records if r.name == "winnow.serve"]
    assert len(records) == 2 and all(r.exc_info is None for r in records)  # one line per failure
    assert all(cfg.upstream_url in r.getMessage() and "Connection refused" in r.getMessage() for r in records)
    assert "Traceback" not in capfd.readouterr().err  # uvicorn logged no "Exception in ASGI application"


class _FlakyBackend:
    """Unreachable until ``up`` is set: how /healthz follows the backend."""

    model_sha256 = "0" * 64

    def __init__(self) -> None:
        self.up = False

    async def stream(self, req: GenRequest) -> AsyncIterator[str]:
        if not self.up:
            raise UpstreamUnreachable("http://up/v1", "Connection refused")
        yield "hello"

    async def aclose(self) -> None:
        return None


def test_healthz_reports_the_backend_failure_until_an_answer_succeeds():
    cfg = ServeConfig(backend="upstream", upstream_url="http://up/v1", policy=POLICY, filter_enabled=False)
    backend = _FlakyBackend()
    with ServerThread(create_app(cfg, backend=backend)) as srv:
        assert httpx.get(srv.url + "/healthz").json()["status"] == "ok"
        assert httpx.post(srv.url + "/v1/chat/completions", json=CHAT).status_code == 502
        assert httpx.get(srv.url + "/healthz").json()["status"] == "degraded"
        backend.up = True
        r = httpx.post(srv.url + "/v1/chat/completions", json=CHAT)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "hello"
        health = httpx.get(srv.url + "/healthz").json()
    assert health["status"] == "ok" and health["backend_error"] is None


# -- 4. a device this torch cannot use --------------------------------------------------------------


def test_a_device_that_torch_does_not_know_is_one_error_line(capsys, monkeypatch, tmp_path):
    line = _serve_error(capsys, monkeypatch, "--checkpoint", str(tmp_path), "--device", "gpu")
    assert line == "error: --device gpu is not a torch device; use cpu, cuda or cuda:N"


def test_cuda_without_cuda_is_one_error_line(capsys, monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    line = _serve_error(capsys, monkeypatch, "--checkpoint", str(tmp_path), "--device", "cuda")
    assert line == (
        "error: --device cuda: this torch has no CUDA (torch.cuda.is_available() is False); use --device cpu"
    )


# -- 5. the audit log path --------------------------------------------------------------------------


def test_an_audit_log_that_is_a_directory_is_refused_at_start(capsys, monkeypatch, tmp_path):
    argv = ["--upstream", "http://127.0.0.1:9/v1", "--no-filter", "--audit-log", str(tmp_path)]
    line = _serve_error(capsys, monkeypatch, *argv)
    assert line == f"error: --audit-log {tmp_path} is a directory; give a file path"


def test_an_audit_log_under_a_file_names_the_file(capsys, monkeypatch, tmp_path):
    (tmp_path / "file.jsonl").write_text("")
    audit = tmp_path / "file.jsonl" / "a.jsonl"
    argv = ["--upstream", "http://127.0.0.1:9/v1", "--no-filter", "--audit-log", str(audit)]
    line = _serve_error(capsys, monkeypatch, *argv)
    assert line.startswith(
        f"error: {tmp_path / 'file.jsonl'} is a file, not a directory: --audit-log {audit}"
    )
    assert "File exists" not in line


# -- 6. the start-up line and its warnings ----------------------------------------------------------


def _stderr_lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line.rstrip("\n"))
        lines.put("")  # end of output

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_the_server_says_when_and_what_it_serves_and_warns_when_unfiltered(tmp_path):
    audit = tmp_path / "audit.jsonl"
    cmd = [WINNOW, "serve", "--upstream", "http://127.0.0.1:9/v1", "--no-filter", "--port", "0"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [*cmd, "--audit-log", str(audit)], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        lines, seen = _stderr_lines(proc), []
        while not seen or "ready on" not in seen[-1]:
            seen.append(lines.get(timeout=60))
            assert seen[-1] or "ready on" in seen[-1], "\n".join(seen)  # exited before it was ready
        ours = [line for line in seen if not line.startswith("INFO")]
        assert ours[0] == "warning: the filter is off (--no-filter): answers reach clients unchecked"
        m = re.fullmatch(
            r"winnow serve: ready on (http://127\.0\.0\.1:(\d+)); upstream http://127\.0\.0\.1:9/v1; "
            rf"filter off; audit log {re.escape(str(audit))}",
            ours[1],
        )
        assert m and int(m[2]) > 0, ours
        assert httpx.get(m[1] + "/healthz").status_code == 200  # ready means it answers
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_start_up_line_names_the_policy_and_warns_when_fail_open(capsys):
    cfg = ServeConfig(checkpoint="runs/default/train", policy=POLICY, fail_closed=False)
    _announce(cfg, [("::1", 8000, 0, 0)])
    assert capsys.readouterr().err.splitlines() == [
        "warning: fail-open (--fail-open): an answer passes unchecked when a detector errors",
        f"winnow serve: ready on http://[::1]:8000; checkpoint runs/default/train; policy {POLICY}; "
        "no audit log",
    ]


def test_the_start_up_warns_when_the_harm_classifier_has_no_encoder_tier(capsys):
    """Without the encoder the line rule stops ~40% of clean prose answers (BENCHMARKS.md): say so at start."""
    from benchmarks.policy_variants import shipped_policy_data
    from filters import Filter, Policy
    from winnow.serve import fast_tier_only

    data = shipped_policy_data()
    data["detectors"]["harm"]["encoder"] = "off"
    assert fast_tier_only(Filter(Policy.model_validate(data), mode="runtime"))
    assert not fast_tier_only(None)
    cfg = ServeConfig(checkpoint="runs/default/train", policy=POLICY)
    _announce(cfg, [("127.0.0.1", 8000)], fast_only=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].startswith(
        "warning: the harm classifier runs without its encoder tier"
    )
    assert lines[1].startswith("winnow serve: ready on http://127.0.0.1:8000")
    _announce(
        ServeConfig(checkpoint="runs/default/train", policy=POLICY, filter_enabled=False),
        [("127.0.0.1", 8000)],
        True,
    )
    assert not any("encoder" in line for line in capsys.readouterr().err.splitlines())


# -- 7. messages that say what to do ----------------------------------------------------------------


def test_serve_without_a_model_names_the_flags(capsys, monkeypatch):
    line = _serve_error(capsys, monkeypatch)
    assert (
        line == "error: no model to serve: pass --checkpoint DIR (a `winnow train` output) or --upstream URL"
    )


def test_a_checkpoint_file_is_told_to_pass_its_directory(capsys, monkeypatch, tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    line = _serve_error(capsys, monkeypatch, "--checkpoint", str(weights))
    assert line.startswith(
        f"error: checkpoint {weights} is a file; pass a directory: the one that holds it ({tmp_path})"
    ), line


def test_a_run_directory_is_told_its_train_directory(capsys, monkeypatch, tmp_path):
    (tmp_path / "train" / "checkpoints").mkdir(parents=True)
    line = _serve_error(capsys, monkeypatch, "--checkpoint", str(tmp_path), "--device", "cpu")
    assert line.endswith(
        f"{tmp_path} holds a trained model in train/: pass --checkpoint {tmp_path / 'train'}"
    )


def test_a_serve_config_without_a_model_names_what_to_set(capsys, monkeypatch, tmp_path):
    (tmp_path / "serve.yaml").write_text("model_name: x\n")
    line = _serve_error(capsys, monkeypatch, "--config", str(tmp_path / "serve.yaml"))
    assert "set it to a `winnow train` output directory (--checkpoint DIR)" in line
    assert "or set backend: upstream and upstream_url (--upstream URL)" in line


def test_a_message_for_a_category_the_policy_lacks_is_one_error_line(capsys, monkeypatch, tmp_path):
    (tmp_path / "serve.yaml").write_text(
        "backend: upstream\nupstream_url: http://127.0.0.1:9/v1\ncategory_messages:\n  selfharm: Call someone.\n"
    )
    line = _serve_error(capsys, monkeypatch, "--config", str(tmp_path / "serve.yaml"))
    assert "category_messages: 'selfharm' is not a category of the policy" in line
    assert "use one of: " in line and "self_harm" in line
