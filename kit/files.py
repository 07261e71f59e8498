"""Files, the way every winnow room handles them: atomic writes, file digests, pinned files, which
file names are documents and which files a list of inputs names. Standard library only.

Pinned files: `read_pinned` is the one read of a file whose sha256 is pinned (a model's weights, a
calibration file): the bytes are read once, hashed, and returned only when they are the pinned ones;
otherwise `PinnedFileError` (a `ValueError` carrying the path and both digests, so a caller can
word it as its own error). A read that fails raises the `OSError` for the caller to word too.

Atomic write: the data goes to `.<name>.<uuid4 hex>.tmp` in the destination's directory
(same filesystem, so the rename is atomic), is flushed and fsync'd, then `os.replace`d onto the
final name; on any error the temporary is removed and the destination is untouched. The
temporary is created with `open()` in exclusive mode, so its permissions are 0666 & ~umask like
every other file a run writes (`tempfile.mkstemp` would make it 0600).

Directory publish: `replace_dir(staging, final)` renames a finished staging directory onto its final
name; an existing `final` is first renamed aside to `.<name>.old-<hex>` beside it (put back if the
second rename fails) and deleted after, so a reader never sees a mix of the two (only, for an
instant, no directory).

Document names: `winnow dedup`, `winnow tokenize` and ingest read Parquet and JSONL by the same
suffixes (`PARQUET_SUFFIXES`, `JSONL_SUFFIXES`, any case, JSONL optionally compressed), so a file
one of them takes is never skipped by another; `expand_inputs` is the one expansion of input paths
(files and directories) into document files for `winnow dedup` and `winnow tokenize`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "COMPRESSION_SUFFIXES",
    "JSONL_SUFFIXES",
    "PARQUET_SUFFIXES",
    "TEMPORARY_NAME",
    "FileTooLargeError",
    "PinnedFileError",
    "atomic_write",
    "document_format",
    "expand_inputs",
    "file_sha256",
    "read_pinned",
    "replace_dir",
    "split_compression",
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


class PinnedFileError(ValueError):
    """A file whose bytes are not the pinned ones: `path`, `what` it is, `expected` and `actual` sha256."""

    def __init__(self, path: str | os.PathLike, what: str, expected: str, actual: str):
        super().__init__(f"{what} {path} has sha256 {actual}, expected {expected}")
        self.path, self.what, self.expected, self.actual = path, what, expected, actual


class FileTooLargeError(ValueError):
    """A file larger than its reader takes: `path`, `what` it is, the `limit` in bytes."""

    def __init__(self, path: str | os.PathLike, what: str, limit: int):
        super().__init__(f"{what} {path} is larger than {limit} bytes")
        self.path, self.what, self.limit = path, what, limit


def read_pinned(
    path: str | os.PathLike, sha256: str | None, what: str = "file", *, max_bytes: int | None = None
) -> bytes:
    """The bytes of `path`, read once, only if their sha256 is `sha256` (hex); `what` names the file
    in the errors.

    `sha256=None` reads the file the same way without a pin (a file the user did not pin).
    `max_bytes` refuses a larger file (`FileTooLargeError`) before its digest is compared, reading at
    most one byte more than the limit. A mismatch raises `PinnedFileError`; a failed read, the `OSError`.
    """
    with open(path, "rb") as f:
        data = f.read() if max_bytes is None else f.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise FileTooLargeError(path, what, max_bytes)
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise PinnedFileError(path, what, sha256, actual)
    return data


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


def replace_dir(staging: str | os.PathLike, final: str | os.PathLike) -> None:
    """Publish the finished directory `staging` as `final` (same filesystem), replacing what is there.

    Without a `final` it is one rename. Otherwise `final` is renamed aside to a unique hidden name
    (`.<name>.old-<12 hex>`) in its directory, `staging` is renamed onto `final`, and the old one is
    deleted (a failed delete leaves that hidden name, never an error: the new directory is in place).
    If the second rename fails, the old one is renamed back and the error raised. A reader sees the
    old directory or the new one (or, for the instant between the two renames, none), never a mix.
    """
    staging, final = Path(staging), Path(final)
    if not os.path.lexists(final):
        os.replace(staging, final)
        return
    old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:12]}"
    os.replace(final, old)
    try:
        os.replace(staging, final)
    except BaseException:
        os.replace(old, final)
        raise
    if os.path.isdir(old) and not os.path.islink(old):
        shutil.rmtree(old, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(old)


# -- document names ------------------------------------------------------------------------------

PARQUET_SUFFIXES = (".parquet", ".pq")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
# suffix -> codec name (as `pyarrow.input_stream` spells it)
COMPRESSION_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}


def split_compression(name: str) -> tuple[str, str | None]:
    """(`name` without its compression suffix, the codec that suffix names); (`name`, None) if it has none."""
    low = name.lower()
    for suffix, codec in COMPRESSION_SUFFIXES.items():
        if low.endswith(suffix):
            return name[: -len(suffix)], codec
    return name, None


def document_format(path: str | os.PathLike) -> str | None:
    """The format of a document file from its name (any case): "parquet", "jsonl", or None for others.

    JSONL may be compressed (`d.jsonl.gz`); Parquet compresses inside, so `p.parquet.gz` is not one.
    """
    base, codec = split_compression(os.path.basename(path).lower())
    if base.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if codec is None and base.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def expand_inputs(paths: Iterable[str]) -> list[str]:
    """The document files that `paths` name, in the order given; the one rule of every corpus reader.

    A file stands for itself (its reader judges its format). A directory stands for the Parquet and
    JSONL files below it (`document_format`), in sorted path order, skipping names that
    start with "." or "_" (temporaries, `_SUCCESS`, a stage's `_parts/` state) and symlinked
    directories. A missing path is an error, not an empty input.
    """
    out: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out += _documents_under(p)
        elif p.is_file():
            out.append(str(p))
        else:
            raise FileNotFoundError(f"input not found: {raw}")
    return out


def _documents_under(root: Path) -> list[str]:
    found: list[Path] = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith((".", "_"))]
        found += [
            Path(directory, n)
            for n in names
            if not n.startswith((".", "_"))
            and document_format(n)
            and os.path.isfile(os.path.join(directory, n))
        ]
    return [str(f) for f in sorted(found)]
