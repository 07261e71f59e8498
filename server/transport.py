"""uvicorn settings of `winnow serve`: read deadlines on every request, a connection cap.

Why: uvicorn's only timer is the keep-alive one, cancelled by the first byte of a request, so a client
that sends a header byte per second (slowloris) or never finishes its body holds a connection and a
request slot forever. ``DeadlineH11Protocol`` (uvicorn's h11 protocol plus two timers) closes the
connection when a request's headers are not complete ``header_timeout_s`` after its first byte (or
after the connection opened), or its body is not complete ``body_timeout_s`` after the headers.
A client that stops reading the response (its receive window full, our write buffer above the
high-water mark) is given ``write_stall_timeout_s`` to start reading again, then the connection is
aborted, so a slow reader cannot hold a generation slot either.
Between requests uvicorn's keep-alive timer applies (it also covers a pipelined request left half-sent
when the previous response completes: no byte arrives, so the keep-alive timer is never cancelled).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.config import ServeConfig

__all__ = ["DeadlineH11Protocol", "ReadyServer", "uvicorn_config"]

_READ_DONE = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header-read and a body-read deadline per request."""

    header_timeout_s = 10.0
    body_timeout_s = 30.0
    write_stall_timeout_s = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._reading_body = False

    def pause_writing(self) -> None:
        """The client stopped reading: it has `write_stall_timeout_s` to start again."""
        super().pause_writing()
        if self._stall_timer is None:
            self._stall_timer = self.loop.call_later(self.write_stall_timeout_s, self._write_stalled)

    def resume_writing(self) -> None:
        self._cancel_stall()
        super().resume_writing()

    def _cancel_stall(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _write_stalled(self) -> None:
        self._stall_timer = None
        if not self.transport.is_closing():
            self.transport.abort()  # a buffered close would wait for the reader that never reads

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self._arm(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._cancel_stall()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._read_timer is None and self.conn.their_state is h11.IDLE:
            self._arm(self.header_timeout_s)  # first byte of the next request on a kept-alive connection
        super().data_received(data)
        self._track_read_phase()

    def _track_read_phase(self) -> None:
        state = self.conn.their_state
        if state in _READ_DONE:
            self._disarm()
        elif state is h11.SEND_BODY and not self._reading_body:
            self._arm(self.body_timeout_s)
            self._reading_body = True

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._reading_body = False
        self._read_timer = self.loop.call_later(seconds, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            self.transport.close()  # the app (if any) sees http.disconnect


def _protocol_for(cfg: ServeConfig) -> type[DeadlineH11Protocol]:
    """A protocol class carrying ``cfg``'s deadlines (uvicorn instantiates the class itself)."""
    return type(
        "ServeH11Protocol",
        (DeadlineH11Protocol,),
        {
            "header_timeout_s": cfg.header_timeout_s,
            "body_timeout_s": cfg.body_timeout_s,
            "write_stall_timeout_s": cfg.write_stall_timeout_s,
        },
    )


def uvicorn_config(app: Any, cfg: ServeConfig, host: str, port: int, log_level: str) -> uvicorn.Config:
    """The one uvicorn configuration of the server (``serve`` and the loopback test helper share it)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http=_protocol_for(cfg),
        timeout_keep_alive=cfg.keep_alive_s,
        limit_concurrency=cfg.max_connections,
    )


class ReadyServer(uvicorn.Server):
    """uvicorn's server, calling ``on_ready(addresses it listens on)`` once it accepts requests.

    Why: given sockets, uvicorn logs no "running on" line; the caller says when, and where, it serves.
    """

    def __init__(
        self, config: uvicorn.Config, on_ready: Callable[[list[tuple[Any, ...]]], None] | None = None
    ) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_ready is not None:
            self._on_ready([s.getsockname() for server in self.servers for s in server.sockets])
