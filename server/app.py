"""The FastAPI app: OpenAI-compatible completions whose output passes the runtime policy.

Flow of a request: auth and size limits -> prompt check (a blocked prompt gets a refusal, the model is
never called) -> the backend's pieces go through a ``StreamGuard`` -> released text is sent (SSE or one
JSON body). A stop closes the backend stream (decoding stops / upstream connection closed) and ends the
answer with ``finish_reason: "content_filter"`` and the safe message. Every intervention is counted in
``/metrics`` and written to the audit log. Errors reach the client as a short JSON message, never a trace.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.requests import ClientDisconnect

from filters.engine import Filter, Verdict
from filters.policy import Policy
from filters.stream import BLOCKING, StreamGuard
from kit.files import file_sha256
from server.audit import AuditLog, intervention_records
from server.backends import Backend, CheckpointBackend, GenRequest, UpstreamBackend, UpstreamError, Usage
from server.config import ServeConfig
from server.metrics import Metrics
from server.request import ClientError, parse_json_body, parse_request

__all__ = ["create_app", "serve"]

log = logging.getLogger("winnow.serve")


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


@dataclass
class _State:
    cfg: ServeConfig
    filter: Filter | None
    backend: Backend
    metrics: Metrics
    audit: AuditLog
    policy_sha256: str
    backend_error: str | None = None  # the last generation's backend failure (cleared by a success)

    def upstream_failed(self, e: UpstreamError) -> None:
        """One log line, no traceback: an unreachable upstream fails every request, and a traceback
        each would bury the reason; ``/healthz`` reports it until a generation succeeds again. A request
        the upstream rejected (``UpstreamRejected``: unknown model, rate limit) says nothing of its health."""
        if not e.degrades:
            log.warning("%s", e)
            return
        log.error("%s", e)
        self.backend_error = e.client_message


def build_backend(cfg: ServeConfig) -> Backend:
    if cfg.backend == "checkpoint":
        assert cfg.checkpoint
        return CheckpointBackend(cfg.checkpoint, cfg.device)
    assert cfg.upstream_url
    return UpstreamBackend(cfg.upstream_url, cfg.upstream_api_key, cfg.upstream_model, cfg.upstream_timeout_s)


def create_app(cfg: ServeConfig, *, filter: Filter | None = None, backend: Backend | None = None) -> FastAPI:
    """The app for ``cfg``; ``filter`` / ``backend`` may be injected (tests), else built from ``cfg``."""
    backend = backend or build_backend(cfg)  # first: a wrong checkpoint path fails before the policy loads
    if cfg.filter_enabled and filter is None:
        policy = Policy.load(cfg.policy)
        cfg.check_categories(list(policy.categories))  # before the models load: a typo fails fast
        filter = Filter(policy, mode="runtime")
        filter.warm_up()  # before serving: the first requests would pay for the encoder's kernels
    elif filter is not None:
        cfg.check_categories(list(filter.policy.categories))
    if not cfg.filter_enabled:
        filter = None
    metrics = Metrics()
    policy_sha = file_sha256(cfg.policy)
    audit = AuditLog(cfg.audit_log, policy_sha, backend.model_sha256, cfg.audit_key_file)
    state = _State(cfg, filter, backend, metrics, audit, policy_sha)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await backend.aclose()

    app = FastAPI(title="winnow serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.winnow = state

    @app.exception_handler(ClientError)
    async def _client_error(_req: Request, exc: ClientError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.kind)

    @app.exception_handler(UpstreamError)
    async def _upstream_error(_req: Request, exc: UpstreamError) -> JSONResponse:
        state.upstream_failed(exc)
        headers = {"Retry-After": exc.retry_after} if exc.retry_after else None
        return _error(exc.status, exc.client_message, "upstream_error", headers)

    @app.exception_handler(Exception)
    async def _server_error(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return _error(500, "internal server error", "server_error")

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "degraded" if state.backend_error else "ok",
            "backend_error": state.backend_error,
            "filter": state.filter is not None,
            "policy_sha256": state.policy_sha256,
            "model_sha256": backend.model_sha256,
        }

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        _auth(state, request)
        return {"object": "list", "data": [{"id": cfg.model_name, "object": "model", "owned_by": "winnow"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        return await _handle(state, request, "chat")

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await _handle(state, request, "completion")

    return app


# -- request handling ---------------------------------------------------------------------------


def _auth(state: _State, request: Request) -> None:
    keys = state.cfg.api_keys
    if not keys:
        return
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not token or not any(hmac.compare_digest(token.encode(), k.encode()) for k in keys):
        raise ClientError(401, "invalid or missing API key", "authentication_error")


async def _read_json(state: _State, request: Request) -> dict[str, Any]:
    limit = state.cfg.max_request_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ClientError(413, f"request body larger than {limit} bytes")
    buf = bytearray()
    try:
        async for part in request.stream():
            buf += part
            if len(buf) > limit:
                raise ClientError(413, f"request body larger than {limit} bytes")
    except ClientDisconnect:  # the client left, or the body deadline closed the connection
        raise ClientError(408, "request body not received in time") from None
    return parse_json_body(bytes(buf))


class _Outcome:
    """What happened to one request's output (filled while streaming, used for audit and metrics)."""

    def __init__(self) -> None:
        self.finish_reason = "stop"
        self.verdict: Verdict | None = None
        self.filter_s = 0.0
        self.stage = "output"
        self.stop_reason = ""
        self.timed_out = False  # request_timeout_s ended the answer


def _blocked(state: _State, v: Verdict) -> bool:
    if v.action not in BLOCKING:
        return False
    if not state.cfg.fail_closed and set(v.fired) == {"detector_error"}:
        log.error("detector error ignored (fail_closed=false): %s", v.reasons)
        return False
    return True


class _Failed:
    """The backend stream raised: carried through the queue so the consumer re-raises it in order."""

    def __init__(self, error: BaseException):
        self.error = error


_END = object()
_MAX_PENDING = 256  # pieces read ahead of the guard at most (back-pressure on the backend)


class _DeadlinePassed(Exception):
    """``request_timeout_s`` ran out while waiting for the backend (silent, or sending no content)."""


async def _next(queue: asyncio.Queue[Any], deadline: float) -> Any:
    try:
        return await asyncio.wait_for(queue.get(), timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        raise _DeadlinePassed from None


async def _arrivals(pieces: AsyncIterator[str], deadline: float) -> AsyncIterator[list[str]]:
    """The backend's pieces grouped by arrival: each list is everything that arrived while the
    previous list was being filtered and sent (never waits for more, so it adds no latency).

    Why: under load many pieces are already buffered when the handler gets to run again; feeding
    them to the guard in one call and sending them as one SSE event costs one guard scan and one
    write instead of one per piece. A stop (the consumer leaves early) cancels the reader, which
    closes the backend stream (decoding stops / the upstream connection is closed). Waiting is bounded
    by ``deadline`` (``_DeadlinePassed``): an upstream that sends nothing, or only SSE comments, cannot
    hold the request past it.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(_MAX_PENDING)

    async def pump() -> None:
        try:
            async for piece in pieces:
                await queue.put(piece)
        except Exception as e:  # re-raised by the consumer, after the pieces that came before it
            await queue.put(_Failed(e))
            return
        await queue.put(_END)

    reader = asyncio.create_task(pump())
    try:
        while True:
            batch = [await _next(queue, deadline)]
            while not queue.empty() and len(batch) < _MAX_PENDING:
                batch.append(queue.get_nowait())
            last = batch[-1]
            if last is _END or isinstance(last, _Failed):
                if len(batch) > 1:
                    yield batch[:-1]
                if isinstance(last, _Failed):
                    raise last.error
                return
            yield batch
    finally:
        if not reader.done():
            reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)  # our own cancellation still propagates
        await pieces.aclose()  # stops decoding / closes the upstream connection


async def _guarded(state: _State, req: GenRequest, out: _Outcome, deadline: float) -> AsyncIterator[str]:
    """Released text pieces; sets ``out`` when the answer ends. Closes the backend stream on a stop."""
    guard = (
        StreamGuard(
            state.filter,
            strict=state.cfg.strict,
            max_holdback=state.cfg.max_holdback,
            classify_lines=state.cfg.classify_lines,
            line_margin=state.cfg.line_margin,
            fail_closed=state.cfg.fail_closed,
            scan_every=state.cfg.scan_every,
        )
        if state.filter is not None
        else None
    )
    batches = _arrivals(state.backend.stream(req), deadline)
    n = 0
    try:
        async for batch in batches:
            n += len(batch)
            text = batch[0] if len(batch) == 1 else "".join(batch)
            if guard is None:
                yield text
            else:
                t0 = time.perf_counter()
                released = guard.feed(text)
                out.filter_s += time.perf_counter() - t0
                if guard.stopped and _blocked(state, guard.verdict):
                    break
                if released:
                    yield released
            if time.monotonic() > deadline:
                raise _DeadlinePassed
        else:
            if n >= req.max_tokens:
                out.finish_reason = "length"
        state.backend_error = None
    except _DeadlinePassed:
        out.finish_reason, out.timed_out = "length", True
    finally:
        await batches.aclose()  # cancels the reader and closes the backend stream
    if guard is None:
        return
    t0 = time.perf_counter()
    rest = guard.close()
    out.filter_s += time.perf_counter() - t0
    out.verdict = guard.verdict
    out.stop_reason = guard.stop_reason
    if guard.verdict is not None and _blocked(state, guard.verdict):
        out.finish_reason = "content_filter"
        return
    if rest:
        yield rest


def _record(
    state: _State,
    rid: str,
    endpoint: str,
    stage: str,
    v: Verdict | None,
    text: str,
    t_start: float,
    **extra: Any,
) -> None:
    if v is None:
        return
    records = intervention_records(v, state.audit.text_hmac(text), len(text))
    for rec in records:
        state.metrics.interventions.labels(stage, rec["category"], v.action).inc()
    latency_ms = round((time.perf_counter() - t_start) * 1000, 3)
    state.audit.write(rid, stage, v.action, records, endpoint=endpoint, latency_ms=latency_ms, **extra)


@dataclass
class _Call:
    """One accepted completion request: who answers it, what was asked, and the ids its answer carries."""

    state: _State
    kind: str  # "chat" or "completion"
    endpoint: str  # the metrics/audit label: "chat" or "completions"
    rid: str
    t_start: float
    req: GenRequest
    check_text: str  # what the prompt check judges
    stream: bool
    usage: Usage | None  # the usage event a streaming client asked for (stream_options.include_usage)
    created: int

    @property
    def model(self) -> str:
        return self.req.model


async def _handle(state: _State, request: Request, kind: str) -> Response:
    """Answer one completion request: accept it, check the prompt, then generate through the guard."""
    call = await _accept(state, request, kind)
    if state.filter is not None and state.cfg.prompt_checks:
        refusal = await _check_prompt(call, state.filter)
        if refusal is not None:
            return refusal
    out = _Outcome()
    deadline = time.monotonic() + state.cfg.request_timeout_s
    if not call.stream:
        return await _answer_whole(call, out, deadline)
    return StreamingResponse(_answer_events(call, out, deadline), media_type="text/event-stream")


async def _accept(state: _State, request: Request, kind: str) -> _Call:
    """Auth, body size limit and parsing; a rejected request is counted before its error goes out."""
    t_start = time.perf_counter()
    endpoint = "chat" if kind == "chat" else "completions"
    rid = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex
    try:
        _auth(state, request)
        body = await _read_json(state, request)
        parsed = parse_request(state.cfg, body, kind)
    except ClientError:
        state.metrics.requests.labels(endpoint, "rejected").inc()
        raise
    req = parsed.gen
    usage = req.usage if parsed.include_usage else None
    return _Call(
        state, kind, endpoint, rid, t_start, req, parsed.check_text, parsed.stream, usage, int(time.time())
    )


async def _check_prompt(call: _Call, filter: Filter) -> Response | None:
    """The refusal for a blocked prompt (the model is never called), else None."""
    state = call.state
    t0 = time.perf_counter()
    verdict = await asyncio.to_thread(filter.check, call.check_text)
    state.metrics.filter_latency.observe(time.perf_counter() - t0)
    if verdict.fired:
        _record(state, call.rid, call.endpoint, "prompt", verdict, call.check_text, call.t_start)
    if not _blocked(state, verdict):
        return None
    state.metrics.requests.labels(call.endpoint, "prompt_blocked").inc()
    state.metrics.latency.labels(call.endpoint).observe(time.perf_counter() - call.t_start)
    msg = state.cfg.blocked_message(verdict.fired, state.cfg.refusal_message)
    if call.stream:
        return StreamingResponse(
            _sse_single(call.kind, call.rid, call.created, call.model, msg, "content_filter", call.usage),
            media_type="text/event-stream",
        )
    body = _full_body(call.kind, call.rid, call.created, call.model, msg, "content_filter", call.req.usage)
    return JSONResponse(body)


def _finish(call: _Call, out: _Outcome, released_text: str) -> None:
    """Audit the output verdict and count the answer once it has ended (streamed or not)."""
    state = call.state
    v = out.verdict
    if v is not None and v.fired:
        _record(
            state,
            call.rid,
            call.endpoint,
            "output",
            v,
            v.text if v.action != "redact" else released_text,
            call.t_start,
            stop_reason=out.stop_reason,
            finish_reason=out.finish_reason,
        )
    state.metrics.filter_latency.observe(out.filter_s)
    state.metrics.latency.labels(call.endpoint).observe(time.perf_counter() - call.t_start)
    state.metrics.requests.labels(call.endpoint, "timeout" if out.timed_out else out.finish_reason).inc()


def _safe_message(state: _State, out: _Outcome) -> str:
    """What replaces a stopped answer: the message of a category that stopped it, else `safe_message`."""
    fired = out.verdict.fired if out.verdict is not None else []
    return state.cfg.blocked_message(fired, state.cfg.safe_message)


async def _answer_whole(call: _Call, out: _Outcome, deadline: float) -> JSONResponse:
    """The whole answer as one JSON body; a stopped answer is replaced by the safe message."""
    state = call.state
    try:
        parts = [p async for p in _guarded(state, call.req, out, deadline)]
    except Exception:
        state.metrics.requests.labels(call.endpoint, "error").inc()
        raise
    text = "".join(parts)
    _finish(call, out, text)
    if out.finish_reason == "content_filter":
        text = _safe_message(state, out)  # nothing was sent: the partial answer is withheld too
    return JSONResponse(
        _full_body(call.kind, call.rid, call.created, call.model, text, out.finish_reason, call.req.usage)
    )


async def _answer_events(call: _Call, out: _Outcome, deadline: float) -> AsyncIterator[bytes]:
    """The answer as SSE events, piece by piece as the guard releases it; a stop appends the safe message.

    The response has started when this runs, so a failure is one error event, not an HTTP error."""
    state, kind, rid, created, model = call.state, call.kind, call.rid, call.created, call.model
    sent: list[str] = []
    head, tail = _content_template(kind, rid, created, model)
    try:
        if kind == "chat":
            yield _sse(_chunk(kind, rid, created, model, None, None, role=True))
        async for piece in _guarded(state, call.req, out, deadline):
            sent.append(piece)
            yield head + json.dumps(piece, ensure_ascii=False).encode() + tail
        if out.finish_reason == "content_filter":
            yield _sse(_chunk(kind, rid, created, model, _safe_message(state, out), None))
        yield _sse(_chunk(kind, rid, created, model, None, out.finish_reason))
        if call.usage is not None:
            yield _sse(_usage_chunk(kind, rid, created, model, call.usage))
        yield b"data: [DONE]\n\n"
    except UpstreamError as e:  # the response has started (200): the error event carries the error's text
        state.upstream_failed(e)
        state.metrics.requests.labels(call.endpoint, "error").inc()
        yield _sse({"error": {"message": e.client_message, "type": "upstream_error"}})
        return
    except Exception:
        log.exception("stream failed")
        state.metrics.requests.labels(call.endpoint, "error").inc()
        yield _sse({"error": {"message": "internal server error", "type": "server_error"}})
        return
    _finish(call, out, "".join(sent))


# -- OpenAI wire format -------------------------------------------------------------------------


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def _content_template(kind: str, rid: str, created: int, model: str) -> tuple[bytes, bytes]:
    """The bytes of a content event around its JSON string: ``_sse(_chunk(.., text, None))`` equals
    ``head + json.dumps(text) + tail`` (one dumps of the piece per event instead of the whole dict)."""
    mark = "\x00winnow-piece\x00"
    full = _sse(_chunk(kind, rid, created, model, mark, None))
    q = json.dumps(mark, ensure_ascii=False).encode()
    i = full.index(q)
    return full[:i], full[i + len(q) :]


def _chunk(
    kind: str, rid: str, created: int, model: str, text: str | None, finish: str | None, role: bool = False
) -> dict[str, Any]:
    if kind == "chat":
        delta: dict[str, Any] = {"role": "assistant"} if role else {}
        if text is not None:
            delta["content"] = text
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }
    choice = {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
    return {"id": rid, "object": "text_completion", "created": created, "model": model, "choices": [choice]}


def _usage_chunk(kind: str, rid: str, created: int, model: str, usage: Usage) -> dict[str, Any]:
    """The final event a client asked for with ``stream_options.include_usage``: no choices, the usage."""
    obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
    return {
        "id": rid,
        "object": obj,
        "created": created,
        "model": model,
        "choices": [],
        "usage": _usage(usage),
    }


def _usage(usage: Usage) -> dict[str, int]:
    total = usage.prompt_tokens + usage.completion_tokens
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": total,
    }


async def _sse_single(
    kind: str, rid: str, created: int, model: str, text: str, finish: str, usage: Usage | None
) -> AsyncIterator[bytes]:
    if kind == "chat":
        yield _sse(_chunk(kind, rid, created, model, None, None, role=True))
    yield _sse(_chunk(kind, rid, created, model, text, None))
    yield _sse(_chunk(kind, rid, created, model, None, finish))
    if usage is not None:
        yield _sse(_usage_chunk(kind, rid, created, model, usage))
    yield b"data: [DONE]\n\n"


def _full_body(
    kind: str, rid: str, created: int, model: str, text: str, finish: str, usage: Usage
) -> dict[str, Any]:
    if kind == "chat":
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
        obj = "text_completion"
    return {
        "id": rid,
        "object": obj,
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": _usage(usage),
    }


def serve(
    cfg: ServeConfig,
    app: FastAPI | None = None,
    sockets: list[socket.socket] | None = None,
    on_ready: Callable[[list[tuple[Any, ...]]], None] | None = None,
) -> None:
    """Run the server until interrupted (uvicorn, one process, read deadlines; see server/transport.py).

    ``sockets``: already listening (the CLI binds them first, so a taken port is its own error line);
    ``on_ready(addresses)`` is called once the server accepts requests, with where it listens."""
    from server.transport import ReadyServer, uvicorn_config

    app = app or create_app(cfg)
    ReadyServer(uvicorn_config(app, cfg, cfg.host, cfg.port, "info"), on_ready).run(sockets=sockets)
