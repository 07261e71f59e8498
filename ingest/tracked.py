"""A source file opened for reading, tracked so that no part of it is lost silently.

Readers stream through `TrackedFile.stream()`. The file counts the bytes taken from disk, so a
reader that has to stop early can say how much of the source it never read (`stopped`), and it
remembers the size, mtime and inode at open, so that a file truncated, appended to or replaced
while it was read is noticed at the end (`changed`). Counts include read-ahead buffers, so
"read" means "taken from the file", which is what a partial read can promise.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

from ingest.compression import open_binary
from ingest.records import BadRecord, excerpt

_BUFFER = 1 << 16


class _CountingRaw(io.RawIOBase):
    """An unbuffered file that counts the bytes it returns."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        n = self._file.readinto(buf) or 0
        self.count += n
        return n

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()
        super().close()


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev


class TrackedFile:
    """One local source file; use as a context manager so the descriptor is always closed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._raw = _CountingRaw(self.path)
        self._at_open = os.fstat(self._raw.fileno())
        self._streamed = False

    @property
    def size(self) -> int:
        """Size in bytes when the file was opened."""
        return self._at_open.st_size

    @property
    def bytes_read(self) -> int:
        return self._raw.count

    def stream(self) -> BinaryIO:
        """The decompressed content, read sequentially (gzip/zstd sniffed from magic bytes)."""
        self._streamed = True
        return open_binary(io.BufferedReader(self._raw, _BUFFER))

    def stopped(self, position: int, cause: str, raw: bytes = b"", *, truncated: bool = False) -> BadRecord:
        """The record that ends a source read only in part, saying how much was never read.

        `truncated`: the data ended too early (a cut file), rather than reading had to stop.
        """
        unread = max(0, self.size - self.bytes_read)
        reason = "source_truncated" if truncated else "unread_remainder"
        return BadRecord(
            position,
            f"{reason}: {cause} (read {self.bytes_read:,} of {self.size:,} source bytes, {unread:,} not read)",
            excerpt(raw),
            unread,
        )

    def changed(self, position: int) -> BadRecord | None:
        """After a complete read: a record if the file is not the one that was opened, else None."""
        problems = []
        if self._streamed and self.bytes_read != self.size:
            problems.append(f"read {self.bytes_read:,} bytes of the {self.size:,} it had when opened")
        try:
            now = os.stat(self.path)
        except OSError:
            problems.append("it was removed")
            now = None
        if now is not None and _identity(now) != _identity(self._at_open):
            problems.append(f"its size is now {now.st_size:,} and its mtime or inode changed")
        if not problems:
            return None
        size_now = now.st_size if now is not None else self.size
        unread = max(0, max(self.size, size_now) - self.bytes_read) if self._streamed else 0
        return BadRecord(
            position,
            f"source_changed: the file changed while it was read ({'; '.join(problems)}); "
            "documents read from it may be incomplete",
            b"",
            unread,
        )

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> TrackedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
