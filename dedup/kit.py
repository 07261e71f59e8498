"""The small shared kit every winnow library uses: atomic file writes and file digests.

It lives in `dedup`, the lowest library: `tokenization` (and through it `trainer` and `server`)
and `pipeline` already import `dedup` (its `executor` holds the one local Ray start), and
`dedup`'s package import is lazy, so `import dedup.kit` costs only the standard library.
`filters` uses it too (`winnow filter score` writes its output through it).

Atomic write: the data goes to `.<name>.<uuid4 hex>.tmp` in the destination's directory
(same filesystem, so the rename is atomic), is flushed and fsync'd, then `os.replace`d onto the
final name; on any error the temporary is removed and the destination is untouched. The
temporary is created with `open()` in exclusive mode, so its permissions are 0666 & ~umask like
every other file a run writes (`tempfile.mkstemp` would make it 0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "TEMPORARY_NAME",
    "atomic_write",
    "file_sha256",
    "temporary_path",
    "write_bytes_atomic",
    "write_text_atomic",
]

# The name `atomic_write` writes to before the rename; `pipeline.storage.remove_temporaries`
# deletes what killed writers left behind by this pattern.
TEMPORARY_NAME = re.compile(r"\.(.{1,255})\.[0-9a-f]{32}\.tmp")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, streamed (shards and checkpoints may be large)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def temporary_path(path: str | os.PathLike) -> Path:
    """A unique hidden name next to `path` (matches `TEMPORARY_NAME`)."""
    path = Path(path)
    return path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open `path` for writing so that readers see either the old file or the whole new one.

    `mode` is "wb" or "w" (text; `encoding` as for `open`). Parent directories are created.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with open(tmp, mode.replace("w", "x"), encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)
