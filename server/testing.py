"""Loopback helpers for tests and benchmarks: uvicorn in a thread, and a scripted fake upstream.

The fake upstream is an OpenAI-compatible server whose answer to a prompt is fixed in advance, so a test
knows the exact text the guard sees; it records how many pieces each request sent and whether the client
closed the stream before the end (how the proxy's early close is verified).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from server.transport import uvicorn_config

__all__ = ["FakeUpstream", "ServerThread"]


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 and a free port, in a daemon thread.

    A winnow app (``create_app``) runs with the server's own uvicorn settings (read deadlines,
    keep-alive, connection cap), so tests exercise what ``winnow serve`` runs.
    """

    def __init__(self, app: Any, log_level: str = "warning"):
        state = getattr(getattr(app, "state", None), "winnow", None)
        if state is not None:
            config = uvicorn_config(app, state.cfg, "127.0.0.1", 0, log_level)
        else:
            config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level=log_level, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class _Stats:
    requests: int = 0
    sent: list[int] = field(default_factory=list)  # pieces sent per request
    closed_early: list[bool] = field(default_factory=list)  # client went away before the last piece
    bodies: list[dict[str, Any]] = field(default_factory=list)  # the request bodies received


class FakeUpstream:
    """Answers each prompt with a scripted list of pieces (``script(prompt) -> pieces``), streamed or not.

    With ``report_usage`` it reports ``usage`` as OpenAI does (in the body; when streaming, in a final
    event without choices, only if the request asks with ``stream_options.include_usage``): prompt tokens
    = whitespace-separated words of the prompt, completion tokens = pieces.
    """

    def __init__(self, script: Callable[[str], list[str]], delay_s: float = 0.0, report_usage: bool = True):
        self.script = script
        self.delay_s = delay_s
        self.report_usage = report_usage
        self.stats = _Stats()
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._chat)
        self.app.post("/v1/completions")(self._completions)

    async def _chat(self, request: Request) -> Any:
        body = await request.json()
        prompt = str(body["messages"][-1]["content"])
        return self._answer(body, prompt, "chat")

    async def _completions(self, request: Request) -> Any:
        body = await request.json()
        return self._answer(body, str(body["prompt"]), "completion")

    def _answer(self, body: dict[str, Any], prompt: str, kind: str) -> Any:
        pieces = self.script(prompt)
        self.stats.bodies.append(body)
        self.stats.requests += 1
        idx = len(self.stats.sent)
        self.stats.sent.append(0)
        self.stats.closed_early.append(False)
        if not body.get("stream"):
            self.stats.sent[idx] = len(pieces)
            text = "".join(pieces)
            choice = (
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                if kind == "chat"
                else {"index": 0, "text": text, "finish_reason": "stop"}
            )
            answer = {"id": "up", "object": "x", "created": 0, "model": "fake", "choices": [choice]}
            if self.report_usage:
                answer["usage"] = self.usage(prompt, pieces)
            return answer
        options = body.get("stream_options") or {}
        usage = self.usage(prompt, pieces) if self.report_usage and options.get("include_usage") else None
        return StreamingResponse(self._events(pieces, kind, idx, usage), media_type="text/event-stream")

    @staticmethod
    def usage(prompt: str, pieces: list[str]) -> dict[str, int]:
        """The usage this fake reports for a prompt and its answer."""
        p, c = len(prompt.split()), len(pieces)
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    async def _events(
        self, pieces: list[str], kind: str, idx: int, usage: dict[str, int] | None
    ) -> AsyncIterator[bytes]:
        done = False
        try:
            for p in pieces:
                if kind == "chat":
                    choice = {"index": 0, "delta": {"content": p}, "finish_reason": None}
                else:
                    choice = {"index": 0, "text": p, "finish_reason": None}
                yield b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n\n"
                self.stats.sent[idx] += 1
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
            yield b'data: {"choices": [{"index": 0, "delta": {}, "text": "", "finish_reason": "stop"}]}\n\n'
            if usage is not None:
                yield b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"
            done = True
        finally:
            if not done:
                self.stats.closed_early[idx] = True
