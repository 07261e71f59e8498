"""The no-context baseline the training tests compare a model's loss against."""

from __future__ import annotations

import math

import numpy as np

from tokenization.reader import TokenDataset


def unigram_entropy_bits(ds: TokenDataset, max_rows: int = 4096) -> float:
    """Entropy (bits/token) of the unigram distribution of target tokens: a loss any model must beat."""
    rows = ds.take(np.arange(min(len(ds), max_rows)))[:, 1:].ravel()
    counts = np.bincount(rows, minlength=ds.vocab_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) if p.size else math.nan
