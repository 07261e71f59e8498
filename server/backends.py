"""Where the text comes from: the bundled trainer checkpoint, or an upstream OpenAI-compatible server.

Both yield text pieces through an async iterator; closing the iterator (``aclose``) is how the guard
stops generation: the checkpoint backend closes its decoding generator (no further forward passes),
the upstream backend leaves the ``httpx`` stream context, which closes the upstream connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

__all__ = ["Backend", "CheckpointBackend", "GenRequest", "UpstreamBackend", "UpstreamError"]


class UpstreamError(RuntimeError):
    """The upstream server failed (status, protocol); its message is safe to log, not to return verbatim."""


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
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    model_sha256: str

    def stream(self, req: GenRequest) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


class CheckpointBackend:
    """The bundled model: ``trainer.generate.generate`` (KV cache) run step by step in a worker thread."""

    def __init__(self, checkpoint: str, device: str | None = None, top_k: int | None = 50):
        from trainer import checkpoint as ckpt
        from trainer.generate import load_model

        self.checkpoint = checkpoint
        self.device = device
        self.top_k = top_k
        load_model(checkpoint, device)  # fail at start, not on the first request
        p = Path(checkpoint)
        weights = p / ckpt.WEIGHTS
        if not weights.is_file():
            latest = ckpt.latest_checkpoint(p / "checkpoints") or ckpt.latest_checkpoint(p)
            weights = Path(latest) / ckpt.WEIGHTS
        from server.config import file_sha256

        self.model_sha256 = file_sha256(weights)
        self._lock = threading.Lock()  # one decoding step at a time: the model is shared
        self.pieces_generated = 0  # decoded pieces over the server's life (tests read it)

    async def stream(self, req: GenRequest) -> AsyncIterator[str]:
        from trainer.generate import generate

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

    async def aclose(self) -> None:
        return None


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
        }
        if req.top_p is not None:
            body["top_p"] = req.top_p
        if req.kind == "chat":
            body["messages"] = req.messages
            url = f"{self.base_url}/chat/completions"
        else:
            body["prompt"] = req.prompt
            url = f"{self.base_url}/completions"
        async with self._client.stream("POST", url, json=body) as resp:
            if resp.status_code != 200:
                await resp.aread()
                raise UpstreamError(f"upstream returned HTTP {resp.status_code}")
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    choice = json.loads(data)["choices"][0]
                except (json.JSONDecodeError, KeyError, IndexError, TypeError) as e:
                    raise UpstreamError(f"malformed upstream event: {type(e).__name__}") from e
                piece = (
                    (choice.get("delta") or {}).get("content") if req.kind == "chat" else choice.get("text")
                )
                if piece:
                    yield piece

    async def aclose(self) -> None:
        await self._client.aclose()
