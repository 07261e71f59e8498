"""Open a possibly-compressed file as a binary stream that *raises* on truncation.

warcio and zstandard both end silently when a compressed file is cut short; readers must instead
report the loss (a `BadRecord`), so decompression goes through streams that raise `EOFError`.
Compression is detected from magic bytes, not the file name, so misnamed files still read.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import BinaryIO

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 16


class TruncatedInput(EOFError):
    """The compressed stream ended before its end-of-stream marker."""


class _ZstdRaw(io.RawIOBase):
    """Multi-frame zstd decompression that raises `TruncatedInput` when input ends mid-frame."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._src = fileobj
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._pending = b""
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._src.read(_CHUNK)
            if not chunk:
                if self._in_frame:
                    raise TruncatedInput("zstd stream ended before the end of its frame")
                return 0
            while chunk:
                self._in_frame = True
                try:
                    self._pending += self._dobj.decompress(chunk)
                except zstandard.ZstdError as e:
                    raise OSError(f"corrupt zstd data: {e}") from e
                if self._dobj.eof:
                    self._in_frame = False
                    chunk = self._dobj.unused_data
                    self._dobj = self._dctx.decompressobj()
                else:
                    chunk = b""
        n = min(len(buf), len(self._pending))
        buf[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._src.close()
        super().close()


def sniff_compression(path: Path) -> str | None:
    """'gzip', 'zstd' or None, from the first bytes."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def open_binary(path: Path) -> BinaryIO:
    """Decompressed binary stream of `path` (gzip, zstd or plain); truncation raises `EOFError`."""
    kind = sniff_compression(path)
    if kind == "gzip":
        # GzipFile handles multi-member files (Common Crawl's per-record gzip) and raises EOFError.
        return gzip.open(path, "rb")  # type: ignore[return-value]
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    if kind == "zstd":
        return io.BufferedReader(_ZstdRaw(raw), buffer_size=_CHUNK)  # type: ignore[return-value]
    return raw
