"""Open a possibly-compressed stream as a binary stream that *raises* on truncation.

warcio and zstandard both end silently when a compressed file is cut short; readers must instead
report the loss (a `BadRecord`), so decompression goes through streams that raise `EOFError`.
Compression is detected from magic bytes, not the file name, so misnamed files still read.
"""

from __future__ import annotations

import gzip
import io
from typing import BinaryIO

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 16
# Compressed bytes per zstd call. One call's output is unbounded (a 128 KiB block can be 4 bytes),
# so small inputs bound memory: at most ~32 MiB per call even for a decompression bomb.
_ZSTD_FEED = 1 << 10


class TruncatedInput(EOFError):
    """The compressed stream ended before its end-of-stream marker."""


class _ZstdRaw(io.RawIOBase):
    """Multi-frame zstd decompression that raises `TruncatedInput` when input ends mid-frame.

    Decompressed bytes are handed out from an offset into the pending buffer, never by slicing
    the rest off, so reading costs time linear in the output.
    """

    def __init__(self, fileobj: BinaryIO) -> None:
        self._src = fileobj
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._pending = b""
        self._offset = 0
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        while self._offset >= len(self._pending):
            chunk = self._src.read(_ZSTD_FEED)
            if not chunk:
                if self._in_frame:
                    raise TruncatedInput("zstd stream ended before the end of its frame")
                return 0
            self._pending, self._offset = self._decompress(chunk), 0
        n = min(len(buf), len(self._pending) - self._offset)
        buf[:n] = self._pending[self._offset : self._offset + n]
        self._offset += n
        return n

    def _decompress(self, chunk: bytes) -> bytes:
        """Output of one input chunk, across frame boundaries inside it."""
        out = []
        while chunk:
            self._in_frame = True
            try:
                out.append(self._dobj.decompress(chunk))
            except zstandard.ZstdError as e:
                raise OSError(f"corrupt zstd data: {e}") from e
            chunk = b""
            if self._dobj.eof:
                self._in_frame = False
                chunk = self._dobj.unused_data
                self._dobj = self._dctx.decompressobj()
        return b"".join(out)

    def close(self) -> None:
        self._src.close()
        super().close()


def sniff_compression(head: bytes) -> str | None:
    """'gzip', 'zstd' or None, from the first bytes of a stream."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def open_binary(raw: io.BufferedReader) -> BinaryIO:
    """Decompressed binary stream of `raw` (gzip, zstd or plain); truncation raises `EOFError`."""
    kind = sniff_compression(raw.peek(4)[:4])
    if kind == "gzip":
        # GzipFile handles multi-member files (Common Crawl's per-record gzip) and raises EOFError.
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "zstd":
        return io.BufferedReader(_ZstdRaw(raw), buffer_size=_CHUNK)  # type: ignore[return-value]
    return raw  # type: ignore[return-value]
