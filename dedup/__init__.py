"""winnow dedup: exact and MinHash LSH near-duplicate removal, distributed on Ray, deterministic.

Library API (the pipeline wraps it; `dedup` never imports `pipeline`):
- `run_dedup(input_paths, out_dir, config) -> DedupStats` and `explain(config) -> str` for `winnow dedup`.
- `dedup_dataset(ds, config) -> DedupResult` and `apply_to_dataset(ds, result) -> (kept_ds, rejected_ds)`.
- `dedup_blocks(blocks, config, executor)` over Arrow tables / ObjectRefs / FileBlocks.
- Per-batch functions: `exact_hash_batch`, `signatures`, `band_keys`; datasketch interop via `to_datasketch`.
"""

from dedup.config import DedupConfig, ExactDedupConfig, MinHashConfig
from dedup.engine import DedupResult, dedup_blocks, run_exact, run_near
from dedup.exact import exact_hash, exact_hash_batch, normalize_exact
from dedup.executor import LocalExecutor, RayExecutor
from dedup.lsh import band_keys, bands_rows, candidate_probability, optimal_params
from dedup.minhash import signatures, signatures_from_hashes, to_datasketch
from dedup.run import DedupStats, apply_to_dataset, dedup_dataset, explain, run_dedup
from dedup.shingle import hash32, shingle_hashes, shingles

__all__ = [
    "DedupConfig",
    "DedupResult",
    "DedupStats",
    "ExactDedupConfig",
    "LocalExecutor",
    "MinHashConfig",
    "RayExecutor",
    "apply_to_dataset",
    "band_keys",
    "bands_rows",
    "candidate_probability",
    "dedup_blocks",
    "dedup_dataset",
    "exact_hash",
    "exact_hash_batch",
    "explain",
    "hash32",
    "normalize_exact",
    "optimal_params",
    "run_dedup",
    "run_exact",
    "run_near",
    "shingle_hashes",
    "shingles",
    "signatures",
    "signatures_from_hashes",
    "to_datasketch",
]
