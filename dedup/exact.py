"""Exact dedup key: xxh3-128 of normalized text (NFKC, lowercase, whitespace collapsed, stripped)."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pyarrow as pa
import xxhash

_WS = re.compile(r"\s+")


def normalize_exact(text: str) -> str:
    """The text two documents must share to be exact duplicates."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def exact_hash(text: str) -> bytes:
    """16-byte xxh3-128 digest of the normalized text."""
    return xxhash.xxh3_128_digest(normalize_exact(text).encode())


def exact_hash_batch(batch: pa.Table | pa.RecordBatch, text_column: str = "text") -> pa.FixedSizeBinaryArray:
    """Per-batch pure function: one fixed_size_binary(16) hash per row (null text hashes as empty text)."""
    texts = batch.column(text_column).to_pylist()
    return pa.array([exact_hash(t or "") for t in texts], type=pa.binary(16))


def hash_words(hashes: pa.FixedSizeBinaryArray) -> tuple[np.ndarray, np.ndarray]:
    """The 128-bit hashes as two uint64 columns (little-endian words), for numpy grouping/partitioning."""
    raw = np.frombuffer(
        hashes.buffers()[1], dtype=np.uint64, count=2 * len(hashes), offset=hashes.offset * 16
    )
    raw = raw.reshape(-1, 2)
    return raw[:, 0].copy(), raw[:, 1].copy()


def node_ids(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """uint64 node key of each document id (xxh3-64), used for partitioning and connected components."""
    return np.fromiter(
        (xxhash.xxh3_64_intdigest(s.encode()) for s in ids.to_pylist()), dtype=np.uint64, count=len(ids)
    )
