"""Vectorized MinHash signatures, bit-identical to datasketch's `MinHash` with the same seed and hash function.

Permutations come from datasketch itself (`MinHash(num_perm, seed, scheme).permutations`), so they cannot
drift from the reference. Per batch, all shingle hashes are concatenated, permuted as one (num_perm, N)
uint32/uint64 matrix in chunks, and reduced per document with `np.minimum.reduceat` along the contiguous
axis (2.5x faster than the (N, num_perm) layout, whose reduceat strides across rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from datasketch import MinHash

from dedup.config import MinHashConfig
from dedup.shingle import shingle_hashes_batch

_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
EMPTY = np.uint32(0xFFFFFFFF)  # signature value of a document without shingles
# Permuted values held at once: 8k shingles x 128 perms x 4 B = 4 MiB was fastest (2k: 1.6x, 64k: 2.6x slower).
_CHUNK_VALUES = 1 << 20


@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) exactly as datasketch draws them for this num_perm/seed/scheme."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=scheme).permutations
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3 32-bit finalizer, datasketch's pre-mix for the affine32 scheme."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _permute(h: np.ndarray, a: np.ndarray, b: np.ndarray, scheme: str) -> np.ndarray:
    """(num_perm, N) permuted hashes."""
    if scheme == "affine32":
        out = np.multiply(a[:, None], _fmix32(h)[None, :])
        np.add(out, b[:, None], out=out)  # in place: one (num_perm, N) buffer, wraps mod 2^32
        return out
    hv = h.astype(np.uint64)[None, :]
    return (((a[:, None] * hv + b[:, None]) % _MERSENNE) & _MAX32).astype(np.uint32)


def signatures_from_hashes(hash_sets: Sequence[np.ndarray], cfg: MinHashConfig) -> np.ndarray:
    """(n_docs, num_perm) uint32 signatures from per-document uint32 shingle hashes; empty docs get EMPTY."""
    a, b = permutations(cfg.num_perm, cfg.seed, cfg.scheme)
    n = len(hash_sets)
    out = np.full((n, cfg.num_perm), EMPTY, dtype=np.uint32)
    lengths = np.fromiter((len(h) for h in hash_sets), dtype=np.int64, count=n)
    nonempty = np.flatnonzero(lengths)
    chunk_rows = max(1, _CHUNK_VALUES // cfg.num_perm)
    i = 0
    with np.errstate(over="ignore"):
        while i < len(nonempty):
            # Take documents until the chunk is full (always at least one document).
            cum = np.cumsum(lengths[nonempty[i:]])
            j = i + max(1, int(np.searchsorted(cum, chunk_rows, side="right")))
            docs = nonempty[i:j]
            flat = np.concatenate([hash_sets[d] for d in docs]).astype(np.uint32, copy=False)
            offsets = np.zeros(len(docs), dtype=np.int64)
            np.cumsum(lengths[docs][:-1], out=offsets[1:])
            out[docs] = np.minimum.reduceat(_permute(flat, a, b, cfg.scheme), offsets, axis=1).T
            i = j
    return out


def signatures(texts: Sequence[str], cfg: MinHashConfig) -> np.ndarray:
    """(n_docs, num_perm) uint32 MinHash signatures of texts."""
    return signatures_from_hashes(shingle_hashes_batch(list(texts), cfg.ngram, cfg.char_ngram), cfg)


def to_datasketch(signature: np.ndarray, cfg: MinHashConfig) -> MinHash:
    """A datasketch MinHash holding our signature (insert into `MinHashLSH`, compare with `jaccard`)."""
    dtype = np.uint64 if cfg.scheme == "legacy" else np.uint32
    return MinHash(seed=cfg.seed, hashvalues=signature.astype(dtype), scheme=cfg.scheme)
