"""LSH banding: parameters from a target threshold, the S-curve, and band keys from signatures."""

from __future__ import annotations

import numpy as np

from dedup.config import MinHashConfig

_GRID = 2001  # integration points over [0, 1]; matches datasketch's quad-based choice (tested)
_P64 = np.uint64(0x9E3779B97F4A7C15)


def candidate_probability(s: np.ndarray | float, bands: int, rows: int) -> np.ndarray:
    """P(two documents with Jaccard s share at least one band) = 1 - (1 - s^r)^b."""
    s = np.asarray(s, dtype=np.float64)
    return 1.0 - (1.0 - s**rows) ** bands


def _errors(threshold: float, num_perm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive and false-negative areas for every (b, r) with b*r <= num_perm, vectorized."""
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)])
    b, r = pairs[:, 0:1].astype(np.float64), pairs[:, 1:2].astype(np.float64)
    lo = np.linspace(0.0, threshold, _GRID)[None, :]
    hi = np.linspace(threshold, 1.0, _GRID)[None, :]
    fp = np.trapezoid(1.0 - (1.0 - lo**r) ** b, lo, axis=1)
    fn = np.trapezoid((1.0 - hi**r) ** b, hi, axis=1)
    return pairs, fp, fn


def optimal_params(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) minimizing fp_weight*FP + fn_weight*FN areas (datasketch's `_optimal_param`)."""
    pairs, fp, fn = _errors(threshold, num_perm)
    err = fp * fp_weight + fn * fn_weight
    i = int(np.argmin(err))  # first minimum in (b, r) order, like datasketch's strict `<`
    return int(pairs[i, 0]), int(pairs[i, 1])


def bands_rows(cfg: MinHashConfig) -> tuple[int, int]:
    """Hand-set bands/rows when given, else the optimum for the threshold and weights."""
    if cfg.bands is not None and cfg.rows is not None:
        return cfg.bands, cfg.rows
    return optimal_params(cfg.threshold, cfg.num_perm, cfg.fp_weight, cfg.fn_weight)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64 keys: a multiply-xor fold of each band's `rows` values, then a 64-bit finalizer.

    Two documents share key j exactly when their band j values are equal (up to 64-bit collisions,
    ~n^2/2^65 per band, which the optional Jaccard check also catches).
    """
    n = sigs.shape[0]
    v = sigs[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    k = np.full((n, bands), np.uint64(0xCBF29CE484222325), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(rows):
            k = (k ^ v[:, :, i]) * _P64
        k ^= k >> np.uint64(33)
        k *= np.uint64(0xFF51AFD7ED558CCD)
        k ^= k >> np.uint64(33)
    return k


def edited_copy_jaccard(fraction: float, ngram: int) -> float:
    """Expected shingle Jaccard of a document and its copy with `fraction` of words substituted (spread out):
    a shingle survives when none of its `ngram` words changed, so J = k / (2 - k) with k = (1 - fraction)^n."""
    k = (1.0 - fraction) ** ngram
    return k / (2.0 - k)


def explain(cfg: MinHashConfig) -> str:
    """Markdown table of P(candidate) at Jaccard 0.0..1.0 for the configured bands x rows."""
    b, r = bands_rows(cfg)
    how = (
        "hand-set"
        if cfg.bands is not None
        else f"optimal for fp_weight={cfg.fp_weight}, fn_weight={cfg.fn_weight}"
    )
    sims = np.round(np.linspace(0.0, 1.0, 21), 2)
    probs = candidate_probability(sims, b, r)
    lo = np.linspace(0.0, cfg.threshold, _GRID)
    hi = np.linspace(cfg.threshold, 1.0, _GRID)
    fp = float(np.trapezoid(candidate_probability(lo, b, r), lo))
    fn = float(np.trapezoid(1.0 - candidate_probability(hi, b, r), hi))
    lines = [
        f"MinHash LSH: num_perm={cfg.num_perm}, bands={b}, rows={r} ({how}), threshold={cfg.threshold}",
        f"shingles: {cfg.ngram}-word n-grams ({cfg.char_ngram}-char n-grams for unspaced scripts), "
        f"seed={cfg.seed}, scheme={cfg.scheme}, verify_jaccard={cfg.verify_jaccard}",
        f"S-curve midpoint (1/b)^(1/r) = {(1.0 / b) ** (1.0 / r):.3f}; FP area = {fp:.4f}, FN area = {fn:.4f}",
        f"a copy with 5% of words substituted has Jaccard ~{edited_copy_jaccard(0.05, cfg.ngram):.2f} "
        f"(P(candidate) {float(candidate_probability(edited_copy_jaccard(0.05, cfg.ngram), b, r)):.3f}); "
        f"one with 50% replaced ~{edited_copy_jaccard(0.5, cfg.ngram):.2f} "
        f"(P(candidate) {float(candidate_probability(edited_copy_jaccard(0.5, cfg.ngram), b, r)):.4f})",
        "",
        "| Jaccard | P(candidate) |",
        "|---:|---:|",
    ]
    lines += [f"| {s:.2f} | {p:.4f} |" for s, p in zip(sims, probs, strict=True)]
    return "\n".join(lines)
