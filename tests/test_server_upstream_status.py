"""What a client and `/healthz` see when the upstream answers with an error status or cannot be reached.

A 4xx about the one request (unknown model, prompt over the context, rate limit) goes back as that 4xx
and leaves `/healthz` "ok"; a broken upstream (refused, 5xx, our key refused) is a 502 and "degraded".
The upstream's own text never reaches the client."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from server.app import create_app
from server.config import ServeConfig
from server.testing import ServerThread

REPO = Path(__file__).resolve().parents[1]
POLICY = str(REPO / "configs" / "policy.yaml")
CHAT = {"model": "no-such-model", "messages": [{"role": "user", "content": "hello"}]}
SECRET = "upstream-internal-detail"  # in every error body the fake upstream sends: never passed on


def _failing_upstream(status: int, headers: dict[str, str] | None = None) -> FastAPI:
    """An OpenAI-compatible upstream answering every completion with ``status`` and an error body."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat() -> JSONResponse:
        body = {"error": {"message": f"{SECRET}: the model does not exist", "type": "invalid_request"}}
        return JSONResponse(body, status_code=status, headers=headers)

    return app


def _closed_port() -> int:
    """A port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _winnow(upstream_url: str) -> ServerThread:
    cfg = ServeConfig(backend="upstream", upstream_url=upstream_url, policy=POLICY, filter_enabled=False)
    return ServerThread(create_app(cfg))


def _last_event(text: str) -> dict[str, Any]:
    events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    return json.loads(events[-1])


def _ask(upstream_url: str) -> tuple[httpx.Response, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """One streamed and one whole request to a fresh server: (whole response, the stream's last event,
    /healthz after the stream, /healthz after both)."""
    with _winnow(upstream_url) as srv:
        streamed = httpx.post(srv.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=30)
        assert streamed.status_code == 200  # the response had started: the error is an SSE event
        after_stream = httpx.get(srv.url + "/healthz").json()
        whole = httpx.post(srv.url + "/v1/chat/completions", json=CHAT, timeout=30)
        after_both = httpx.get(srv.url + "/healthz").json()
    return whole, _last_event(streamed.text), after_stream, after_both


@pytest.fixture
def upstream_answering() -> Iterator[Any]:
    """Start a failing upstream: ``upstream_answering(status, headers) -> its /v1 URL``."""
    started: list[ServerThread] = []

    def start(status: int, headers: dict[str, str] | None = None) -> str:
        srv = ServerThread(_failing_upstream(status, headers))
        srv.__enter__()
        started.append(srv)
        return srv.url + "/v1"

    yield start
    for srv in started:
        srv.__exit__(None, None, None)


OK = {"status": "ok", "backend_error": None}


@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_4xx_about_the_request_is_that_4xx_and_health_stays_ok(upstream_answering, caplog, status):
    caplog.set_level(logging.INFO, logger="winnow.serve")
    url = upstream_answering(status)
    whole, event, after_stream, after_both = _ask(url)
    records = [r for r in caplog.records if r.name == "winnow.serve"]
    assert [(r.levelno, r.getMessage(), r.exc_info) for r in records] == 2 * [
        (logging.WARNING, f"upstream {url} rejected the request: HTTP {status}", None)
    ]
    error = {"message": f"upstream rejected the request: HTTP {status}", "type": "upstream_error"}
    assert whole.status_code == status and whole.json() == {"error": error}
    assert "retry-after" not in whole.headers
    assert event == {"error": error}
    for health in (after_stream, after_both):
        assert {k: health[k] for k in OK} == OK


def test_a_rate_limit_is_a_429_with_the_upstreams_retry_after(upstream_answering):
    whole, event, after_stream, after_both = _ask(upstream_answering(429, {"Retry-After": "7"}))
    error = {"message": "upstream rejected the request: HTTP 429", "type": "upstream_error"}
    assert whole.status_code == 429 and whole.json() == {"error": error}
    assert whole.headers["retry-after"] == "7"
    assert event == {"error": error}
    for health in (after_stream, after_both):
        assert {k: health[k] for k in OK} == OK


@pytest.mark.parametrize(
    ("sent", "passed"),
    [
        ("Wed, 21 Oct 2015 09:28:00 +0200", "Wed, 21 Oct 2015 07:28:00 GMT"),
        (f"soon {SECRET}", None),
        ("99999999999999", None),
    ],
)
def test_a_retry_after_is_rewritten_in_our_words_or_dropped(upstream_answering, sent, passed):
    """The header reaches the client: an HTTP date is re-formatted, anything else is not passed on."""
    whole, *_ = _ask(upstream_answering(429, {"Retry-After": sent}))
    assert whole.status_code == 429 and whole.headers.get("retry-after") == passed


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (500, "upstream returned HTTP 500"),
        (503, "upstream returned HTTP 503"),
        (401, "upstream returned HTTP 401"),  # our --upstream key: every request fails alike
        (403, "upstream returned HTTP 403"),
    ],
)
def test_a_broken_upstream_is_a_502_and_degrades_health(upstream_answering, status, message):
    whole, event, after_stream, after_both = _ask(upstream_answering(status, {"Retry-After": "7"}))
    error = {"message": message, "type": "upstream_error"}
    assert whole.status_code == 502 and whole.json() == {"error": error}
    assert "retry-after" not in whole.headers  # a 502 is not the client's to retry after a delay
    assert event == {"error": error}
    for health in (after_stream, after_both):
        assert health["status"] == "degraded" and health["backend_error"] == message


def test_a_refused_connection_is_a_502_and_degrades_health():
    whole, event, after_stream, after_both = _ask(f"http://127.0.0.1:{_closed_port()}/v1")
    error = {"message": "upstream unreachable: Connection refused", "type": "upstream_error"}
    assert whole.status_code == 502 and whole.json() == {"error": error}
    assert event == {"error": error}
    for health in (after_stream, after_both):
        assert health["status"] == "degraded" and health["backend_error"] == error["message"]


def test_the_upstreams_error_text_never_reaches_the_client(upstream_answering):
    for status in (404, 429, 500):
        whole, event, *_ = _ask(upstream_answering(status))
        assert SECRET not in whole.text and SECRET not in json.dumps(event)
