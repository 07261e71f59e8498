"""Issue 12 attacks on `winnow serve`, each against a real server on loopback (raw sockets where the
attack is below HTTP): slowloris, silent upstreams, hostile numbers and strings, roles, the audit digest,
token usage, and the first-hour CLI mistakes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import os
import select
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from filters import Filter, Policy
from server.app import create_app
from server.audit import KEY_ENV
from server.backends import BackendSetupError
from server.config import ServeConfig
from server.request import parse_request
from server.testing import FakeUpstream, ServerThread

REPO = Path(__file__).resolve().parents[1]
POLICY = str(REPO / "configs" / "policy.yaml")
CLEAN = "The quick brown fox jumps over the lazy dog."
PHONE_TEXT = "You can call him on +1 415 555 0132 after lunch."


def _pieces(text: str, n: int = 4) -> list[str]:
    return [text[i : i + n] for i in range(0, len(text), n)]


def _script(prompt: str) -> list[str]:
    return _pieces(PHONE_TEXT if "phone" in prompt else CLEAN)


@pytest.fixture(scope="module")
def shared_filter() -> Filter:
    return Filter(Policy.load(POLICY), mode="runtime")


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream(_script)
    with ServerThread(fake.app) as srv:
        yield fake, srv.url + "/v1"


@pytest.fixture(scope="module")
def proxy(upstream, shared_filter, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The server with tiny read deadlines (1 s) so slow clients are cut off quickly."""
    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    cfg = ServeConfig(
        backend="upstream",
        upstream_url=upstream[1],
        policy=POLICY,
        audit_log=str(audit),
        header_timeout_s=1.0,
        body_timeout_s=1.0,
        max_tokens_limit=1000,
    )
    with ServerThread(create_app(cfg, filter=shared_filter)) as srv:
        yield srv.url, audit


# -- raw HTTP/1.1 on a socket -----------------------------------------------------------------------


def _connect(url: str) -> socket.socket:
    port = int(url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _post(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body) of one Content-Length response."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {buf!r}"
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _seconds_until_closed(sock: socket.socket, drip: bytes, interval: float, limit: float = 6.0) -> float:
    """Send ``drip`` one byte per ``interval``: the seconds until the server closed the connection
    (``inf`` when it was still open after ``limit``)."""
    t0 = time.monotonic()
    sent = 0
    while time.monotonic() - t0 < limit:
        if sent < len(drip):
            try:
                sock.sendall(drip[sent : sent + 1])
            except OSError:
                return time.monotonic() - t0
            sent += 1
        ready, _, _ = select.select([sock], [], [], interval)
        if ready:
            try:
                data = sock.recv(4096)
            except OSError:
                return time.monotonic() - t0
            assert not data, f"the server answered instead of closing: {data[:120]!r}"
            return time.monotonic() - t0
    return math.inf


SLOW_HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 200


# -- slowloris ----------------------------------------------------------------------------------


def test_header_drip_is_cut_off(proxy):
    """A header byte every 0.25 s (never ending) is cut off ~1 s (header_timeout_s) after it began."""
    with _connect(proxy[0]) as sock:
        assert 0.8 <= _seconds_until_closed(sock, SLOW_HEAD, 0.25) <= 3.0
    with _connect(proxy[0]) as sock:  # a connection that sends nothing at all
        assert 0.8 <= _seconds_until_closed(sock, b"", 0.25) <= 3.0
    with _connect(proxy[0]) as sock:  # the same drip as the second request of a kept-alive connection
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_response(sock)[0] == 200
        assert 0.8 <= _seconds_until_closed(sock, SLOW_HEAD, 0.25) <= 3.0
    assert httpx.get(proxy[0] + "/healthz").status_code == 200


def test_body_drip_is_cut_off(proxy):
    """Complete headers, then a body byte every 0.25 s: cut off ~1 s (body_timeout_s) after the headers."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 300}]}).encode()
    request = _post("/v1/chat/completions", body)
    head, rest = request.split(b"\r\n\r\n", 1)
    with _connect(proxy[0]) as sock:
        sock.sendall(head + b"\r\n\r\n")
        assert 0.8 <= _seconds_until_closed(sock, rest, 0.25) <= 3.0
    with _connect(proxy[0]) as sock:  # the same request sent at once is answered
        sock.sendall(request)
        assert _read_response(sock)[0] == 200


def test_a_client_that_stops_reading_is_cut_off(shared_filter, tmp_path):
    """An 8 MB answer to a client that never reads: the server's write buffer stays full, and after
    write_stall_timeout_s (1 s) the connection is aborted instead of holding the request forever."""
    answer_bytes = 8 << 20
    fake = FakeUpstream(lambda prompt: ["x" * 8192] * (answer_bytes // 8192))
    with ServerThread(fake.app) as up:
        cfg = ServeConfig(
            backend="upstream",
            upstream_url=up.url + "/v1",
            policy=POLICY,
            audit_log=str(tmp_path / "audit.jsonl"),
            filter_enabled=False,  # the transport is under test, not the policy
            write_stall_timeout_s=1.0,
        )
        with ServerThread(create_app(cfg, filter=shared_filter)) as srv:
            port = int(srv.url.rsplit(":", 1)[1])
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader with a tiny window
            sock.settimeout(10)
            sock.connect(("127.0.0.1", port))
            body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
            sock.sendall(_post("/v1/chat/completions", body))
            time.sleep(4.0)  # never read while the server tries to write
            received = 0
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(1 << 20):
                    received += len(chunk)
            sock.close()
    assert received < answer_bytes, "the whole answer waited for the stalled reader"


@pytest.mark.parametrize("stream", [False, True])
def test_a_lone_surrogate_from_upstream_becomes_a_replacement_character(shared_filter, tmp_path, stream):
    fake = FakeUpstream(lambda prompt: ["fine ", "te\ud800xt", " here"])
    with ServerThread(fake.app) as up:
        cfg = ServeConfig(
            backend="upstream", upstream_url=up.url + "/v1", policy=POLICY, audit_log=str(tmp_path / "a")
        )
        with ServerThread(create_app(cfg, filter=shared_filter)) as srv:
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
            resp = httpx.post(srv.url + "/v1/chat/completions", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    if stream:
        events = [json.loads(x[5:]) for x in resp.text.splitlines() if x.startswith("data: {")]
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    else:
        text = resp.json()["choices"][0]["message"]["content"]
    assert text == "fine te\ufffdxt here"


# -- request_timeout_s with an upstream that never answers --------------------------------------


def _stalling_upstream(mode: str, seen: dict[str, int]) -> FastAPI:
    """An upstream that sends no status line ("silent") or only SSE comments ("comments") for 5 s."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        seen["requests"] += 1
        if mode == "silent":
            for _ in range(100):
                if await request.is_disconnected():
                    seen["left"] += 1
                    return Response(status_code=499)
                await asyncio.sleep(0.05)
            return Response(status_code=504)

        async def comments() -> Any:
            done = False
            try:
                for _ in range(100):
                    yield b": still thinking\n\n"
                    await asyncio.sleep(0.05)
                done = True
            finally:
                seen["left"] += not done

        return StreamingResponse(comments(), media_type="text/event-stream")

    return app


@pytest.mark.parametrize("mode", ["silent", "comments"])
@pytest.mark.parametrize("stream", [False, True])
def test_request_timeout_bounds_a_silent_upstream(shared_filter, mode, stream):
    seen = {"requests": 0, "left": 0}
    with ServerThread(_stalling_upstream(mode, seen)) as up:
        cfg = ServeConfig(
            backend="upstream", upstream_url=up.url + "/v1", policy=POLICY, request_timeout_s=1.0
        )
        with ServerThread(create_app(cfg, filter=shared_filter)) as srv:
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
            t0 = time.monotonic()
            r = httpx.post(srv.url + "/v1/chat/completions", json=body, timeout=10)
            elapsed = time.monotonic() - t0
            for _ in range(100):  # the proxy closed its upstream request at the deadline
                if seen["left"]:
                    break
                time.sleep(0.02)
    assert r.status_code == 200 and 0.9 <= elapsed <= 3.0, (r.status_code, elapsed)
    if stream:
        events = [json.loads(x[6:]) for x in r.text.splitlines() if x.startswith("data: {")]
        assert events[-1]["choices"][0]["finish_reason"] == "length"
        assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events) == ""
    else:
        choice = r.json()["choices"][0]
        assert choice["finish_reason"] == "length" and choice["message"]["content"] == ""
    assert seen == {"requests": 1, "left": 1}


# -- hostile numbers and strings: 400, connection kept ------------------------------------------


def _body(extra: str, messages: str = '[{"role": "user", "content": "hi"}]') -> str:
    """A chat body as raw JSON text (so it can hold what ``json.dumps`` would never write)."""
    return f'{{"model": "m", "messages": {messages}{extra}}}'


BAD_BODIES = {
    "nan_top_p": _body(', "top_p": NaN'),
    "inf_temperature": _body(', "temperature": Infinity'),
    "minus_inf_temperature": _body(', "temperature": -Infinity'),
    "overflow_float": _body(', "top_p": 1e999'),
    "5000_digit_max_tokens": _body(', "max_tokens": ' + "9" * 5000),
    "escaped_lone_surrogate": _body("", '[{"role": "user", "content": "a\\ud800b"}]'),
    "lone_surrogate_in_key": _body(', "\\udfff": 1'),
    "top_p_above_1": _body(', "top_p": 1.5'),
    "negative_temperature": _body(', "temperature": -0.1'),
    "max_tokens_zero": _body(', "max_tokens": 0'),
    "max_tokens_over_limit": _body(', "max_tokens": 1001'),
    "max_tokens_bool": _body(', "max_tokens": true'),
    "max_tokens_float": _body(', "max_tokens": 1.5'),
    "seed_out_of_int64": _body(f', "seed": {2**70}'),
    "stream_not_bool": _body(', "stream": "yes"'),
    "unknown_role": _body("", '[{"role": "kill yourself", "content": "hi"}]'),
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_bad_input_is_400_and_keeps_the_connection(proxy, name):
    good = _post("/v1/chat/completions", _body("").encode())
    with _connect(proxy[0]) as sock:
        sock.sendall(_post("/v1/chat/completions", BAD_BODIES[name].encode()))
        status, headers, body = _read_response(sock)
        assert status == 400, body
        error = json.loads(body)["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
        assert headers.get("connection") != "close"
        sock.sendall(good)  # the same connection still serves a good request
        status, _, body = _read_response(sock)
        assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == CLEAN


def test_invalid_utf8_body_is_400(proxy):
    """A surrogate encoded straight into the bytes (CESU-8) is not UTF-8: 400, not 500."""
    with _connect(proxy[0]) as sock:
        sock.sendall(
            _post(
                "/v1/chat/completions",
                b'{"model": "m", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}',
            )
        )
        assert _read_response(sock)[0] == 400


# -- the prompt check reads every message a client sent ------------------------------------------


def test_every_message_is_checked_and_only_role_and_content_go_upstream(proxy, upstream):
    fake = upstream[0]
    n = fake.stats.requests
    msgs = [
        {"role": "system", "content": "you should kill yourself"},
        {"role": "user", "content": "hi"},
    ]
    r = httpx.post(proxy[0] + "/v1/chat/completions", json={"model": "m", "messages": msgs}, timeout=10)
    assert r.json()["choices"][0]["finish_reason"] == "content_filter"
    assert fake.stats.requests == n  # refused without calling the model
    msgs = [{"role": "user", "content": "hi", "name": "kill yourself", "tool_calls": [{"x": 1}]}]
    r = httpx.post(proxy[0] + "/v1/chat/completions", json={"model": "m", "messages": msgs}, timeout=10)
    assert r.status_code == 200
    assert fake.stats.bodies[-1]["messages"] == [{"role": "user", "content": "hi"}]


def test_the_check_reads_every_content_without_role_labels():
    """The backend decodes "role: content" lines; the check reads the contents alone, each on its own
    line, every role included, so a client's text is judged as it would be on its own."""
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "thank you"},
        {"role": "assistant", "content": "You're welcome."},
        {"role": "user", "content": "see you"},
    ]
    cfg = ServeConfig(backend="upstream", upstream_url="http://127.0.0.1:9/v1", policy=POLICY)
    parsed = parse_request(cfg, {"model": "m", "messages": msgs}, "chat")
    assert parsed.check_text == "Be brief.\nthank you\nYou're welcome.\nsee you"
    assert parsed.gen.prompt == (
        "system: Be brief.\nuser: thank you\nassistant: You're welcome.\nuser: see you\nassistant:"
    )
    completion = parse_request(cfg, {"model": "m", "prompt": "user: hi\nassistant:"}, "completion")
    assert completion.check_text == completion.gen.prompt == "user: hi\nassistant:"  # sent as it is


def test_short_everyday_prompts_are_answered(proxy, upstream):
    """The harm classifier abstains below three content words; when the check read the role labels they
    counted as two, so "ask for the phone" was refused as violence (0.965 against 0.961) and 10 of the 50
    everyday short messages of the fixture fired a harm category (1 as bare text). Through the server now,
    at most the one that fires on its own ("see you later") is refused."""
    fake = upstream[0]
    benign = json.loads((REPO / "tests" / "fixtures" / "harm" / "short_messages.json").read_text())["benign"]
    texts = ["ask for the phone", *benign]
    refused = []
    for text in texts:
        n = fake.stats.requests
        msgs = [{"role": "user", "content": text}]
        r = httpx.post(proxy[0] + "/v1/chat/completions", json={"model": "m", "messages": msgs}, timeout=10)
        if fake.stats.requests == n:  # the prompt check refused it: the model was never called
            assert r.json()["choices"][0]["finish_reason"] == "content_filter"
            refused.append(text)
    assert "ask for the phone" not in refused
    assert len(refused) <= 1, refused


# -- audit digest ---------------------------------------------------------------------------------


def _audit_records(path: Path, stage: str) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["stage"] == stage]


def test_audit_digest_is_keyed_not_plain_sha256(proxy):
    url, audit = proxy
    prompt = "my phone is +1 415 555 0132"
    r = httpx.post(
        url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": prompt}]}
    )
    assert r.status_code == 200
    key_file = audit.with_name(audit.name + ".key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes().strip()
    seen = prompt  # what the policy checked: the message's content, without the role labels
    rec = [r for r in _audit_records(audit, "prompt") if r["text_chars"] == len(seen)][-1]
    assert rec["category"] == "pii" and rec["spans"]
    assert "text_sha256" not in rec
    assert rec["text_hmac_sha256"] != hashlib.sha256(seen.encode()).hexdigest()
    assert rec["text_hmac_sha256"] == hmac.new(key, seen.encode(), hashlib.sha256).hexdigest()
    out = [r for r in _audit_records(audit, "output") if r["category"] == "pii"][-1]
    released = r.json()["choices"][0]["message"]["content"]
    assert "<PHONE>" in released
    assert out["text_hmac_sha256"] == hmac.new(key, released.encode(), hashlib.sha256).hexdigest()


def test_audit_key_from_environment(upstream, shared_filter, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "a-deployment-secret-of-32-bytes!")
    audit = tmp_path / "audit.jsonl"
    cfg = ServeConfig(backend="upstream", upstream_url=upstream[1], policy=POLICY, audit_log=str(audit))
    with ServerThread(create_app(cfg, filter=shared_filter)) as srv:
        msgs = [{"role": "user", "content": "what is the office phone number?"}]
        httpx.post(srv.url + "/v1/chat/completions", json={"model": "m", "messages": msgs}, timeout=10)
    assert not audit.with_name("audit.jsonl.key").exists()
    rec = _audit_records(audit, "output")[-1]
    text = PHONE_TEXT.replace("+1 415 555 0132", "<PHONE>")
    assert (
        rec["text_hmac_sha256"]
        == hmac.new(os.environ[KEY_ENV].encode(), text.encode(), hashlib.sha256).hexdigest()
    )


# -- usage ----------------------------------------------------------------------------------------


def test_usage_is_passed_through_from_upstream(proxy, upstream):
    msgs = [{"role": "user", "content": "say hello please"}]
    r = httpx.post(proxy[0] + "/v1/chat/completions", json={"model": "m", "messages": msgs}, timeout=10)
    expected = FakeUpstream.usage("say hello please", _pieces(CLEAN))
    assert r.json()["usage"] == expected
    body = {"model": "m", "messages": msgs, "stream": True, "stream_options": {"include_usage": True}}
    r = httpx.post(proxy[0] + "/v1/chat/completions", json=body, timeout=10)
    events = [json.loads(x[6:]) for x in r.text.splitlines() if x.startswith("data: {")]
    assert events[-1]["choices"] == [] and events[-1]["usage"] == expected
    assert r.text.endswith("data: [DONE]\n\n")


def test_usage_is_counted_when_upstream_gives_none(shared_filter):
    fake = FakeUpstream(_script, report_usage=False)
    with ServerThread(fake.app) as up:
        cfg = ServeConfig(backend="upstream", upstream_url=up.url + "/v1", policy=POLICY)
        with ServerThread(create_app(cfg, filter=shared_filter)) as srv:
            body = {"model": "m", "prompt": "say hello", "max_tokens": 100}
            r = httpx.post(srv.url + "/v1/completions", json=body, timeout=10)
    n = len(_pieces(CLEAN))
    assert r.json()["usage"] == {"prompt_tokens": 0, "completion_tokens": n, "total_tokens": n}


# -- first-hour CLI mistakes ------------------------------------------------------------------------


def _serve_cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "winnow.cli", "serve", "--policy", POLICY, "--port", "0", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop(KEY_ENV, None)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def _assert_one_error_line(proc: subprocess.CompletedProcess[str], *names: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr and all(n in lines[0] for n in names), lines[0]


def test_serve_with_a_wrong_checkpoint_is_one_error_line(tmp_path):
    missing = tmp_path / "no-such-run"
    _assert_one_error_line(_serve_cli("--checkpoint", str(missing)), str(missing), "winnow train")


def test_a_directory_without_a_checkpoint_names_it(tmp_path, shared_filter):
    """The same mistake one step later (the directory exists, holds no weights): the message the CLI prints."""
    cfg = ServeConfig(checkpoint=str(tmp_path), policy=POLICY, device="cpu")
    with pytest.raises(BackendSetupError) as err:
        create_app(cfg, filter=shared_filter)
    assert str(tmp_path) in str(err.value) and "winnow train" in str(err.value)


def test_serve_refuses_a_readable_audit_key(tmp_path):
    key = tmp_path / "audit.jsonl.key"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    key.chmod(0o644)
    proc = _serve_cli("--upstream", "http://127.0.0.1:9/v1", "--audit-log", str(tmp_path / "audit.jsonl"))
    _assert_one_error_line(proc, str(key), "chmod 600")
