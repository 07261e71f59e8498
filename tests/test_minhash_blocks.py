"""Signatures are computed in blocks of permutations x hashes that cut documents; the result must still be
datasketch's, whatever the block boundaries, empty documents and permutation counts."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash

from dedup import minhash
from dedup.config import MinHashConfig


def _identity(data: bytes) -> int:
    return int.from_bytes(data, "little")


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_blocks_cutting_documents_match_datasketch(scheme):
    rng = np.random.default_rng(0)
    sizes = [0, 1, 5, minhash._BLOCK_HASHES + 7, 0, 300, 2 * minhash._BLOCK_HASHES, 3]
    sets = [rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32) for n in sizes]
    cfg = MinHashConfig(num_perm=minhash._BLOCK_PERMS * 3 + 5, seed=3, scheme=scheme)
    ours = minhash.signatures_from_hashes(sets, cfg)
    for h, sig in zip(sets, ours, strict=True):
        if len(h) == 0:
            assert (sig == minhash.EMPTY).all()
            continue
        m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=_identity, scheme=scheme)
        m.update_batch([int(x).to_bytes(4, "little") for x in h])
        assert np.array_equal(m.hashvalues, sig)


def test_no_documents_and_only_empty_documents():
    cfg = MinHashConfig(num_perm=16)
    assert minhash.signatures_from_hashes([], cfg).shape == (0, 16)
    sig = minhash.signatures_from_hashes([np.empty(0, np.uint32)] * 2, cfg)
    assert sig.shape == (2, 16) and (sig == minhash.EMPTY).all()
