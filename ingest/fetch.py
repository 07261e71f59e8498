"""`fetch`: turn a source URI into a local file, through a cache that makes reruns free.

* local paths and `file://` URIs are returned as they are (sha256 checked when given);
* `http(s)://` is streamed with `requests` (TLS verified) into `<cache>/<h[:2]>/<h>/<name>`, where
  `h` = sha256(URI) and `<name>` keeps the original file name (readers detect formats from it).
  A sidecar `<name>.sha256` records the content hash; when it exists the file is returned without
  any network request. The download lands in `<name>.part` and is resumed with HTTP Range after a
  dropped connection (206 → append, 200 → start over; `If-Range` with the first response's ETag or
  Last-Modified, so a file that changed on the server is fetched whole again), retried with exponential backoff on
  5xx/429/timeouts/connection errors, and renamed into place (os.replace) only once complete and
  verified. 4xx other than 408/429 fail at once with `FetchError` (URI and status).
  A download has a total deadline over all its attempts and backoff (`deadline_s`) and a minimum
  rate (`min_rate` bytes/s averaged over `rate_window_s`): a server that sends a byte per second
  ends the attempt as too slow (then resumed) and the download as `FetchError` at the deadline,
  never a hang. (Per-read `timeout` alone cannot see a slow drip: every read gets its byte.) A
  server that drips its headers is cut too: at the deadline the attempt's socket is shut down.
* other fsspec URIs (`s3://`, `hf://`, `gs://` ...) stream through `fsspec.open` into the same cache.

Concurrency comes from the caller (one Ray task per file); an advisory lock on the partial file
keeps two tasks fetching the same URI on one machine from interleaving their writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from kit.files import file_sha256, write_text_atomic

_CHUNK = 1 << 20
_USER_AGENT = "winnow-ingest/0.1 (+https://github.com/winnow)"
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_MAX_BACKOFF = 60.0


class FetchError(RuntimeError):
    """A source could not be fetched; `uri` and (for HTTP) `status` say which and why."""

    def __init__(self, uri: str, message: str, status: int | None = None) -> None:
        self.uri = uri
        self.status = status
        where = f"HTTP {status}" if status is not None else "error"
        super().__init__(f"cannot fetch {uri}: {where}: {message}")


@dataclass
class _Pace:
    """The total deadline of one download and the slowest transfer it accepts."""

    uri: str
    deadline_s: float
    min_rate: float
    rate_window_s: float
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.deadline_s

    def check_deadline(self, written: int, wait: float = 0.0) -> None:
        """Raise `FetchError` once the download (plus a `wait` about to start) passes its deadline."""
        if time.monotonic() + wait > self.deadline:
            raise FetchError(
                self.uri,
                f"download not finished within its deadline of {self.deadline_s:g} s "
                f"({written:,} bytes received); raise the deadline or use a faster mirror",
            )


class _Meter:
    """The bytes of one attempt, checked against its download's deadline and minimum rate."""

    def __init__(self, pace: _Pace, received: int) -> None:
        self.pace = pace
        self.received = received
        self._window_start = time.monotonic()
        self._window_bytes = 0

    def count(self, n: int) -> None:
        """Add `n` bytes; raise `FetchError` past the deadline, `_Retryable` after a too-slow window."""
        self.received += n
        self._window_bytes += n
        self.pace.check_deadline(self.received)
        elapsed = time.monotonic() - self._window_start
        if elapsed >= self.pace.rate_window_s:
            rate = self._window_bytes / elapsed
            if rate < self.pace.min_rate:
                raise _Retryable(f"too slow: {rate:,.0f} bytes/s over {elapsed:.0f} s")
            self._window_start, self._window_bytes = time.monotonic(), 0


class _SocketWatch:
    """Shuts an attempt's sockets down at the download's deadline.

    Per-read timeouts cannot see a server that drips its status line and headers a byte at a
    time (every read gets its byte), and `_Meter` only runs once the body flows. Shutting the
    socket down makes the blocked read return, so the attempt fails and the deadline is reported.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._fired = False

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self._fired:
                _shutdown(sock)

    @property
    def fired(self) -> bool:
        return self._fired

    def fire(self) -> None:
        with self._lock:
            self._fired = True
            for sock in self._sockets:
                _shutdown(sock)

    @contextlib.contextmanager
    def until(self, deadline: float) -> Iterator[None]:
        """Watch the sockets this thread opens or reuses until `deadline` (time.monotonic)."""
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), self.fire)
        timer.daemon = True
        _watching.current = self
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            _watching.current = None


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_watching = threading.local()


class _WatchedConnection(HTTPConnection):
    """An HTTP connection that hands its socket to the current `_SocketWatch` per request."""

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().request(*args, **kwargs)
        watch = getattr(_watching, "current", None)
        if watch is not None:
            watch.add(self.sock)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().request(*args, **kwargs)
        watch = getattr(_watching, "current", None)
        if watch is not None:
            watch.add(self.sock)


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter on pools whose connections a `_SocketWatch` can cut at a deadline."""

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


def deadline_session() -> requests.Session:
    """A session whose downloads `fetch` can end at their deadline, headers included."""
    sess = requests.Session()
    for prefix in ("http://", "https://"):
        sess.mount(prefix, _DeadlineAdapter())
    return sess


class _Retryable(Exception):
    """An attempt failed in a way worth retrying (5xx, 429, dropped connection, short body)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def uri_key(uri: str) -> str:
    """Cache key of a URI: its sha256 in hex."""
    return hashlib.sha256(uri.encode("utf-8")).hexdigest()


def cache_path(uri: str, cache_dir: Path) -> Path:
    """Where `fetch` stores a remote URI: `<cache>/<h[:2]>/<h>/<original file name>`."""
    key = uri_key(uri)
    name = _SAFE_NAME.sub("_", unquote(Path(urlparse(uri).path).name))[:200] or "download"
    return Path(cache_dir) / key[:2] / key / name


def local_path(uri: str) -> Path | None:
    """The file a local path or `file://` URI names; None for a remote URI."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(uri)
    return None


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _validator_path(part: Path) -> Path:
    """ETag/Last-Modified of the response that started `part`, sent back as If-Range on resume."""
    return part.with_name(part.name + ".validator")


def _bar(total: int | None, initial: int, uri: str, progress: bool) -> tqdm:
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=Path(urlparse(uri).path).name[:40],
        disable=not (progress and sys.stderr.isatty()),
        leave=False,
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(path.name + ".lock")
    with open(lock, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After", "")
    return min(float(value), _MAX_BACKOFF) if value.strip().isdigit() else None


def _http_attempt(
    session: requests.Session, uri: str, part: Path, timeout: float, progress: bool, pace: _Pace
) -> None:
    """One GET, resuming from `part`'s size; returns when the body is complete, else raises."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    validator = _validator_path(part)
    if have:
        headers["Range"] = f"bytes={have}-"
        if validator.is_file():  # resume only if the file did not change meanwhile (else 200)
            headers["If-Range"] = validator.read_text().strip()
    watch = _SocketWatch()
    try:
        with (
            watch.until(pace.deadline),
            session.get(uri, headers=headers, stream=True, timeout=timeout) as resp,
        ):
            status = resp.status_code
            if status == 416 and have:
                total = resp.headers.get("Content-Range", "").rpartition("/")[2]
                if total.isdigit() and int(total) == have:
                    return  # the partial file already holds the whole body
                part.unlink(missing_ok=True)
                raise _Retryable(f"range {have}- not satisfiable (size {total or 'unknown'}); restarting")
            if status in _RETRYABLE_STATUS:
                raise _Retryable(f"HTTP {status}", _retry_after(resp))
            if status >= 400:
                raise FetchError(uri, resp.reason or "request failed", status)
            if status == 206:
                m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                if not m or int(m.group(1)) != have:
                    part.unlink(missing_ok=True)
                    raise _Retryable(f"unexpected Content-Range {resp.headers.get('Content-Range')!r}")
                mode, offset = "ab", have
                expected = None if m.group(3) == "*" else int(m.group(3))
            else:  # 200: the server ignored Range (or none was sent): start over
                mode, offset = "wb", 0
                tag = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
                if tag and not tag.startswith("W/"):  # weak ETags cannot validate a Range
                    write_text_atomic(validator, tag)
                else:
                    validator.unlink(missing_ok=True)
                length = resp.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
            written = offset
            meter = _Meter(pace, offset)
            # read1 hands over whatever arrived before a drop (iter_content would discard the
            # last partial chunk); raw bytes, never content-decoded, so Range offsets line up.
            with open(part, mode) as out, _bar(expected, offset, uri, progress) as bar:
                try:
                    while chunk := resp.raw.read1(_CHUNK, decode_content=False):
                        out.write(chunk)
                        written += len(chunk)
                        bar.update(len(chunk))
                        meter.count(len(chunk))
                finally:
                    out.flush()
                    os.fsync(out.fileno())
            if watch.fired:  # the body may look complete when it has no Content-Length
                raise _Retryable(f"cut at the download's deadline after {written} bytes")
            if expected is not None and written < expected:
                raise _Retryable(f"connection closed after {written} of {expected} bytes")
    except requests.exceptions.SSLError as e:  # a certificate problem does not fix itself
        raise FetchError(uri, f"TLS error: {e}") from e
    except (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        urllib3.exceptions.HTTPError,
    ) as e:
        raise _Retryable(f"{type(e).__name__}: {e}") from e
    except requests.RequestException as e:  # malformed URL, too many redirects, ...
        raise FetchError(uri, f"{type(e).__name__}: {e}") from e


def _fsspec_attempt(uri: str, part: Path, progress: bool, pace: _Pace) -> None:
    import fsspec

    try:
        with (
            fsspec.open(uri, "rb") as src,
            open(part, "wb") as out,
            _bar(getattr(src, "size", None), 0, uri, progress) as bar,
        ):
            meter = _Meter(pace, 0)
            while chunk := src.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
                meter.count(len(chunk))
    except (FileNotFoundError, PermissionError) as e:
        raise FetchError(uri, f"{type(e).__name__}: {e}") from e
    except (OSError, TimeoutError, ConnectionError) as e:
        raise _Retryable(f"{type(e).__name__}: {e}") from e


def _with_retries(uri: str, part: Path, attempt, retries: int, backoff: float, pace: _Pace) -> None:
    failures = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            attempt()
            return
        except _Retryable as e:
            after = part.stat().st_size if part.exists() else 0
            failures = 0 if after > before else failures + 1  # progress made: not a failure streak
            if failures > retries:
                raise FetchError(uri, f"gave up after {retries} retries: {e}") from e
            delay = e.retry_after
            if delay is None:
                delay = min(_MAX_BACKOFF, backoff * 2 ** max(0, failures - 1)) * (0.5 + random.random() / 2)
            pace.check_deadline(after, delay)
            time.sleep(delay)


def _verify(uri: str, expected: str | None, actual: str) -> None:
    if expected and actual.lower() != expected.lower():
        raise FetchError(uri, f"sha256 mismatch: expected {expected.lower()}, got {actual}")


def fetch(
    uri: str,
    cache_dir: Path,
    *,
    sha256: str | None = None,
    retries: int = 5,
    timeout: float = 60,
    progress: bool = True,
    backoff: float = 1.0,
    session: requests.Session | None = None,
    deadline_s: float = 3600.0,
    min_rate: float = 1024.0,
    rate_window_s: float = 60.0,
) -> Path:
    """Local path of `uri`, downloading it into `cache_dir` first when it is remote.

    Raises `FetchError` on a missing source, a non-retryable HTTP status, exhausted retries, a
    download still unfinished `deadline_s` after it began (the partial file stays, to be resumed)
    or a sha256 mismatch (the mismatching download is deleted, never left in the cache). An
    attempt slower than `min_rate` bytes/s over `rate_window_s` is retried (resumed).
    """
    local = local_path(uri)
    if local is not None:
        if not local.is_file():
            raise FetchError(uri, "no such file")
        if sha256:
            _verify(uri, sha256, file_sha256(local))
        return local

    final = cache_path(uri, cache_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    side = _sidecar(final)
    with _locked(final):
        if final.is_file() and side.is_file():
            recorded = side.read_text().strip()
            if not sha256 or recorded.lower() == sha256.lower():
                return final
            final.unlink()  # a different version than the one asked for: fetch again
            side.unlink()
        part = final.with_name(final.name + ".part")
        pace = _Pace(uri, deadline_s, min_rate, rate_window_s)
        scheme = urlparse(uri).scheme.lower()
        if scheme in ("http", "https"):
            sess = session or deadline_session()
            try:
                _with_retries(
                    uri,
                    part,
                    lambda: _http_attempt(sess, uri, part, timeout, progress, pace),
                    retries,
                    backoff,
                    pace,
                )
            finally:
                if session is None:
                    sess.close()
        else:
            _with_retries(
                uri, part, lambda: _fsspec_attempt(uri, part, progress, pace), retries, backoff, pace
            )
        digest = file_sha256(part)
        try:
            _verify(uri, sha256, digest)
        except FetchError:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, final)
        _validator_path(part).unlink(missing_ok=True)
        write_text_atomic(side, digest + "\n")
    return final
