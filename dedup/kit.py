"""The small shared kit every winnow library uses: atomic file writes, file digests, which file
names are documents, and the cluster-size buckets.

It lives in `dedup`, the lowest library: `tokenization` (and through it `trainer` and `server`)
and `pipeline` already import `dedup` (its `executor` holds the one local Ray start), and
`dedup`'s package import is lazy, so `import dedup.kit` costs only the standard library.
`filters` uses it too (`winnow filter score` writes its output through it).

Atomic write: the data goes to `.<name>.<uuid4 hex>.tmp` in the destination's directory
(same filesystem, so the rename is atomic), is flushed and fsync'd, then `os.replace`d onto the
final name; on any error the temporary is removed and the destination is untouched. The
temporary is created with `open()` in exclusive mode, so its permissions are 0666 & ~umask like
every other file a run writes (`tempfile.mkstemp` would make it 0600).

Document names: `winnow dedup`, `winnow tokenize` and ingest read Parquet and JSONL by the same
suffixes (`PARQUET_SUFFIXES`, `JSONL_SUFFIXES`, any case, JSONL optionally compressed), so a file
one of them takes is never skipped by another.

Cluster-size buckets: the ledger of a dedup stage, `winnow dedup`'s stats.json and the report
count clusters by size with one rule (`cluster_size_bucket`), so their numbers compare.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "CLUSTER_SIZE_BUCKETS",
    "COMPRESSION_SUFFIXES",
    "JSONL_SUFFIXES",
    "PARQUET_SUFFIXES",
    "TEMPORARY_NAME",
    "atomic_write",
    "cluster_size_bucket",
    "cluster_size_histogram",
    "document_format",
    "file_sha256",
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


# -- cluster-size buckets ------------------------------------------------------------------------

# Every size bucket in size order: small clusters one by one, then by order of magnitude.
CLUSTER_SIZE_BUCKETS = (*(str(n) for n in range(2, 10)), "10-99", "100+")


def cluster_size_bucket(size: int) -> str:
    """The bucket of a cluster of `size` documents (at least 2): "2" ... "9", "10-99", "100+"."""
    if size < 2:
        raise ValueError(f"a duplicate cluster has at least 2 documents, not {size}")
    if size < 10:
        return str(size)
    return "10-99" if size < 100 else "100+"


def cluster_size_histogram(sizes: Iterable[int]) -> dict[str, int]:
    """Clusters per size bucket, in bucket order, buckets without clusters left out.

    Sizes below 2 are skipped: one document is no duplicate cluster (a foreign file may hold one).
    """
    counts = Counter(cluster_size_bucket(int(s)) for s in sizes if s >= 2)
    return {b: counts[b] for b in CLUSTER_SIZE_BUCKETS if counts[b]}
