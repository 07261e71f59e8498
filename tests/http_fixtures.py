"""A local HTTP file server for tests, with programmable faults and a request log.

    with serve_directory(path, faults={"a/b.warc.gz": Fault(status=500, times=2)}) as server:
        server.url            # "http://127.0.0.1:PORT"
        server.requests       # [Request(method, path, range, status, bytes_sent, if_range, etag), ...]

Faults (keyed by the URL path without the leading "/"), each applied to the first `times`
requests for that path (`times=None`: every request):
* `Fault(status=500)` / `Fault(status=404)`: answer with that status and a short body;
* `Fault(drop_after=K)`: send the normal headers (full Content-Length) and K body bytes, then
  close the connection, as a flaky network does;
* `Fault(drip_every=S)`: send the body one byte every S seconds (a slow-drip server), until
  the client hangs up;
* `Fault(header_drip_every=S)`: send the status line and headers one byte every S seconds, and
  never finish them, until the client hangs up.
Range requests (`bytes=N-`, `bytes=N-M`) get 206 with Content-Range unless `ranges=False` or an
`If-Range` differs from the file's ETag (a content hash), which gets the whole file (200).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class Fault:
    status: int | None = None
    drop_after: int | None = None
    drip_every: float | None = None
    header_drip_every: float | None = None
    times: int | None = 1


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None
    status: int
    bytes_sent: int
    if_range: str | None = None
    etag: str | None = None


@dataclass
class Server:
    url: str
    root: Path
    requests: list[Request] = field(default_factory=list)

    def requests_for(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path.lstrip("/")]


def _handler(server_state: Server, faults: dict[str, Fault], ranges: bool, lock: threading.Lock):
    remaining = {k: f.times for k, f in faults.items()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _log(self, path: str, rng: str | None, status: int, sent: int, etag: str | None = None) -> None:
            entry = Request(self.command, path, rng, status, sent, self.headers.get("If-Range"), etag)
            with lock:
                server_state.requests.append(entry)

        def _fault(self, path: str) -> Fault | None:
            with lock:
                fault = faults.get(path)
                if fault is None or remaining[path] == 0:
                    return None
                if remaining[path] is not None:
                    remaining[path] -= 1
                return fault

        def _status(self, path: str, rng: str | None, status: int) -> None:
            body = f"{status}\n".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self._log(path, rng, status, 0)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = unquote(urlparse(self.path).path).lstrip("/")
            rng = self.headers.get("Range")
            fault = self._fault(path)
            if fault is not None and fault.status is not None:
                return self._status(path, rng, fault.status)
            if fault is not None and fault.header_drip_every is not None:
                return self._log(path, rng, 200, self._drip_headers(fault.header_drip_every))
            target = (server_state.root / path).resolve()
            if server_state.root not in target.parents or not target.is_file():
                return self._status(path, rng, 404)
            data = target.read_bytes()
            etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
            start, end, status = 0, len(data), 200
            m = _RANGE.match(rng or "")
            if_range = self.headers.get("If-Range")
            if ranges and m and (if_range is None or if_range == etag):
                start = int(m.group(1))
                end = min(len(data), int(m.group(2)) + 1) if m.group(2) else len(data)
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return self._log(path, rng, 416, 0)
                status = 206
            body = data[start:end]
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
            if ranges:
                self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if self.command == "HEAD":
                return self._log(path, rng, status, 0, etag)
            if fault is not None and fault.drop_after is not None:
                sent = body[: fault.drop_after]
                self.wfile.write(sent)
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)  # socket.SHUT_RDWR
                return self._log(path, rng, status, len(sent), etag)
            if fault is not None and fault.drip_every is not None:
                return self._log(path, rng, status, self._drip(body, fault.drip_every), etag)
            self.wfile.write(body)
            self._log(path, rng, status, len(body), etag)

        def _drip_headers(self, every: float) -> int:
            """Headers that never end, a byte at a time; returns the bytes sent before the hang-up."""
            self.close_connection = True
            head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000
            return self._drip(head, every)

        def _drip(self, body: bytes, every: float) -> int:
            """Send `body` a byte at a time; returns the bytes sent before the client hung up."""
            for i in range(len(body)):
                try:
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                except OSError:
                    return i
                time.sleep(every)
            return len(body)

    return Handler


@contextlib.contextmanager
def serve_directory(
    root: Path, faults: dict[str, Fault] | None = None, *, ranges: bool = True
) -> Iterator[Server]:
    """Serve `root` on 127.0.0.1 (random free port) in a background thread for the block."""
    state = Server(url="", root=Path(root).resolve())
    lock = threading.Lock()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, dict(faults or {}), ranges, lock))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http-server", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
