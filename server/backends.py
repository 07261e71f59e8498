"""Where the text comes from: the bundled trainer checkpoint, or an upstream OpenAI-compatible server.

Both yield text pieces through an async iterator; closing the iterator (``aclose``) is how the guard
stops generation: the checkpoint backend closes its decoding generator (no further forward passes),
the upstream backend leaves the ``httpx`` stream context, which closes the upstream connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

__all__ = [
    "Backend",
    "BackendSetupError",
    "CheckpointBackend",
    "GenRequest",
    "UpstreamBackend",
    "UpstreamError",
    "UpstreamRejected",
    "UpstreamUnreachable",
    "Usage",
]


class UpstreamError(RuntimeError):
    """The upstream server failed (status, protocol); its message is safe to log, not to return verbatim.

    ``client_message`` is what the client is told (with ``status``): our own words, never the upstream's.
    ``degrades``: the upstream, or our access to it, is broken for every request, so ``/healthz`` says so.
    """

    status = 502
    degrades = True
    retry_after: str | None = None  # the Retry-After header the client gets (ours, from the upstream's)

    def __init__(self, message: str, client_message: str = "upstream server failed") -> None:
        super().__init__(message)
        self.client_message = client_message


class UpstreamRejected(UpstreamError):
    """The upstream refused this one request (a 4xx other than 401/403: an unknown model, a prompt over
    its context, a rate limit): the client gets that status, and ``/healthz`` stays "ok", since a client
    naming a wrong model must not mark the server degraded for every monitor."""

    degrades = False

    def __init__(self, base_url: str, status: int, retry_after: str | None = None) -> None:
        reason = f"rejected the request: HTTP {status}"
        super().__init__(f"upstream {base_url} {reason}", f"upstream {reason}")
        self.status = status
        self.retry_after = retry_after


class UpstreamUnreachable(UpstreamError):
    """No connection to the upstream (refused, unresolvable, timed out): the client is told why, the
    operator (log) also where, so a wrong ``--upstream`` is seen on the first request."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"upstream {url} unreachable: {reason}", f"upstream unreachable: {reason}")


class BackendSetupError(ValueError):
    """The backend cannot start because of what the user passed (e.g. a wrong checkpoint path)."""


@dataclass
class Usage:
    """Token counts of one generation, filled by the backend as it streams.

    ``source``: "tokenizer" (the checkpoint's own tokenizer), "upstream" (the upstream's ``usage``),
    "counted" (the upstream gave none: completion = content events received, prompt unknown = 0).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    source: str = "none"


@dataclass
class GenRequest:
    """One generation: the prompt as text (checkpoint) and as chat messages (upstream chat)."""

    kind: str  # "chat" or "completion"
    prompt: str
    messages: list[dict[str, Any]] | None
    max_tokens: int
    temperature: float
    top_p: float | None
    seed: int
    model: str
    usage: Usage = field(default_factory=Usage)


class Backend(Protocol):
    model_sha256: str

    def stream(self, req: GenRequest) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


class CheckpointBackend:
    """The bundled model: ``trainer.generate.generate`` (KV cache) run step by step in a worker thread."""

    def __init__(self, checkpoint: str, device: str | None = None, top_k: int | None = 50):
        from trainer import checkpoint as ckpt

        self.checkpoint = checkpoint
        self.device = device
        self.top_k = top_k
        _load_checkpoint(checkpoint, device)  # fail at start, not on the first request
        p = Path(checkpoint)
        weights = p / ckpt.WEIGHTS
        if not weights.is_file():
            latest = ckpt.latest_checkpoint(p / "checkpoints") or ckpt.latest_checkpoint(p)
            weights = Path(latest) / ckpt.WEIGHTS
        from kit.files import file_sha256

        self.model_sha256 = file_sha256(weights)
        self._lock = threading.Lock()  # one decoding step at a time: the model is shared
        self.pieces_generated = 0  # decoded pieces over the server's life (tests read it)

    async def stream(self, req: GenRequest) -> AsyncIterator[str]:
        from trainer.generate import generate

        _model, tok, _eos = _load_checkpoint(self.checkpoint, self.device)  # cached by the trainer
        context = _model.cfg.max_seq_len or 1
        ids = await asyncio.to_thread(lambda: tok.encode(req.prompt).ids)
        req.usage.prompt_tokens = max(1, min(len(ids), context - 1))  # what generate() feeds the model
        req.usage.source = "tokenizer"
        sampled: list[int] = []  # the token ids generate() produced: usage counts these
        stop = threading.Event()
        gen = generate(
            self.checkpoint,
            req.prompt,
            req.max_tokens,
            req.temperature,
            self.top_k,
            req.seed,
            stop=lambda _text: stop.is_set(),
            device=self.device,
            generated=sampled,
        )

        def step() -> str | None:
            with self._lock:
                piece = next(gen, None)
            if piece is not None:
                self.pieces_generated += 1
            return piece

        try:
            while True:
                piece = await asyncio.to_thread(step)
                if piece is None:
                    return
                yield piece
        finally:
            stop.set()

            def _close() -> None:
                with self._lock:
                    gen.close()

            await asyncio.to_thread(_close)
            req.usage.completion_tokens = len(sampled)

    async def aclose(self) -> None:
        return None


def _load_checkpoint(checkpoint: str, device: str | None) -> tuple[Any, Any, int | None]:
    """``trainer.generate.load_model``, with a wrong path or device reported as what the user must fix."""
    _check_checkpoint_path(Path(checkpoint))  # before importing torch: the mistake is reported at once
    _check_device(device)
    from trainer.generate import load_model

    try:
        return load_model(checkpoint, device)
    except FileNotFoundError:
        raise BackendSetupError(
            f"checkpoint {checkpoint}: no model.safetensors found in it; {_hint(Path(checkpoint))}"
        ) from None


_HINT = "pass the --out directory of `winnow train` (or one of its checkpoints/step-* directories)"


def _check_checkpoint_path(p: Path) -> None:
    """Refuse a checkpoint path that is not a directory, saying which directory to pass instead."""
    if p.is_file():
        raise BackendSetupError(
            f"checkpoint {p} is a file; pass a directory: the one that holds it ({p.parent}) "
            "or the --out directory of `winnow train`"
        )
    if not p.is_dir():
        raise BackendSetupError(f"checkpoint {p}: no such directory; {_HINT}")


def _hint(p: Path) -> str:
    """What to pass instead of ``p``: a subdirectory holding checkpoints when there is one (a `winnow run`
    directory holds them in ``train/`` after `make train`), else the general hint."""
    with contextlib.suppress(OSError):
        inside = sorted(c for c in p.iterdir() if (c / "checkpoints").is_dir())
        if inside:
            return f"{p} holds a trained model in {inside[0].name}/: pass --checkpoint {inside[0]}"
    return _HINT


_DEVICES = "use cpu, cuda or cuda:N"


def _check_device(device: str | None) -> None:
    """Refuse a device this torch cannot use before loading: torch itself says "Torch not compiled
    with CUDA enabled" (an AssertionError) or lists thirty device names."""
    if device is None:
        return
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise BackendSetupError(f"--device {device} is not a torch device; {_DEVICES}") from None
    if dev.type == "cpu":
        return
    if dev.type != "cuda":
        raise BackendSetupError(f"--device {device}: the bundled model runs on cpu or cuda; {_DEVICES}")
    if not torch.cuda.is_available():
        why = "this torch has no CUDA" if torch.version.cuda is None else "no CUDA device is visible"
        raise BackendSetupError(
            f"--device {device}: {why} (torch.cuda.is_available() is False); use --device cpu"
        )
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise BackendSetupError(f"--device {device}: this machine has {count} CUDA device(s); use cuda:0")


class UpstreamBackend:
    """Proxy to an OpenAI-compatible server; always streams upstream so a stop can close it early."""

    def __init__(
        self, base_url: str, api_key: str | None = None, model: str | None = None, timeout_s: float = 60.0
    ):
        self.base_url = base_url.rstrip("/")
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        )
        self.model_sha256 = hashlib.sha256(f"upstream:{self.base_url}:{model or ''}".encode()).hexdigest()

    async def stream(self, req: GenRequest) -> AsyncIterator[str]:
        body: dict[str, Any] = {
            "model": self.model or req.model,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},  # the final event carries the upstream's usage
        }
        if req.top_p is not None:
            body["top_p"] = req.top_p
        if req.kind == "chat":
            body["messages"] = req.messages
            url = f"{self.base_url}/chat/completions"
        else:
            body["prompt"] = req.prompt
            url = f"{self.base_url}/completions"
        events = 0
        try:
            async with _connected(self._client.stream("POST", url, json=body), self.base_url) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    raise _status_error(resp, self.base_url)
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    event = _parse_event(data)
                    _take_usage(event, req.usage)
                    piece = _piece(event, req.kind)
                    if piece:
                        events += 1
                        yield piece
        finally:
            if req.usage.source != "upstream":
                req.usage.prompt_tokens, req.usage.completion_tokens = 0, events
                req.usage.source = "counted"

    async def aclose(self) -> None:
        await self._client.aclose()


_OUR_ACCESS = (401, 403)  # the upstream refuses our API key: every request fails alike


def _status_error(resp: httpx.Response, base_url: str) -> UpstreamError:
    """The error of a non-200 upstream answer. A 4xx is about this request and goes back as that 4xx,
    except 401/403 (our credentials); a 5xx or any other status means the upstream is broken (a 502)."""
    code = resp.status_code
    if 400 <= code < 500 and code not in _OUR_ACCESS:
        retry_after = _retry_after(resp.headers.get("retry-after")) if code == 429 else None
        return UpstreamRejected(base_url, code, retry_after)
    return UpstreamError(f"upstream {base_url} returned HTTP {code}", f"upstream returned HTTP {code}")


def _retry_after(value: str | None) -> str | None:
    """The upstream's Retry-After rewritten by us (seconds, or an HTTP date), None when it is neither:
    the header reaches the client, which must never get the upstream's own text."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return str(int(value)) if len(value) <= 9 else None  # at most ~31 years
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return format_datetime(utc, usegmt=True)


@asynccontextmanager
async def _connected(
    stream: AbstractAsyncContextManager[httpx.Response], base_url: str
) -> AsyncIterator[httpx.Response]:
    """``stream`` with httpx's transport errors as ``UpstreamError``: the app answers those with a 502
    and one log line, where a raw ``httpx.ConnectError`` was a 500 and a traceback per request."""
    try:
        async with stream as resp:
            yield resp
    except (httpx.ConnectError, httpx.ConnectTimeout) as e:
        raise UpstreamUnreachable(base_url, _transport_reason(e)) from None
    except httpx.RequestError as e:  # transport, decoding, redirects
        reason = _transport_reason(e)
        raise UpstreamError(f"upstream {base_url} failed: {reason}", f"upstream failed: {reason}") from None


def _transport_reason(e: BaseException) -> str:
    """The OS's words for a transport error (e.g. "Connection refused"): httpx's own message is often
    "All connection attempts failed", with the reason a few causes down."""
    seen: BaseException | None = e
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return str(seen.strerror) if not seen.errno or seen.errno < 0 else os.strerror(seen.errno)
        seen = seen.__cause__ or seen.__context__
    if isinstance(e, httpx.TimeoutException):
        return "timed out"
    return (str(e).splitlines() or [type(e).__name__])[0][:200]


def _parse_event(data: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except json.JSONDecodeError as e:
        raise UpstreamError("malformed upstream event: not JSON") from e
    if not isinstance(event, dict):
        raise UpstreamError("malformed upstream event: not an object")
    return event


def _piece(event: dict[str, Any], kind: str) -> str | None:
    """The text of an upstream event (None for a usage-only event, whose ``choices`` is empty)."""
    choices = event.get("choices")
    if not isinstance(choices, list):
        raise UpstreamError("malformed upstream event: no choices")
    if not choices:
        return None
    choice = choices[0]
    if not isinstance(choice, dict):
        raise UpstreamError("malformed upstream event: bad choice")
    if kind == "chat":
        delta = choice.get("delta")
        piece = delta.get("content") if isinstance(delta, dict) else None
    else:
        piece = choice.get("text")
    return _without_lone_surrogates(piece) if isinstance(piece, str) else None


def _without_lone_surrogates(text: str) -> str:
    """JSON may carry a lone surrogate (``"\\ud800"``), which no response can encode: U+FFFD instead."""
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _take_usage(event: dict[str, Any], usage: Usage) -> None:
    """Adopt the upstream's ``usage`` when it is well formed (non-negative integer counts)."""
    up = event.get("usage")
    if not isinstance(up, dict):
        return
    prompt, completion = up.get("prompt_tokens"), up.get("completion_tokens")
    counts = (prompt, completion)
    if all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 2**53 for c in counts):
        usage.prompt_tokens, usage.completion_tokens, usage.source = prompt, completion, "upstream"
