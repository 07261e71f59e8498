"""winnow dedup: exact and MinHash LSH near-duplicate removal, distributed on Ray, deterministic.

Library API (the pipeline wraps it; `dedup` never imports `pipeline`):
- `run_dedup(input_paths, out_dir, config, progress=None) -> DedupStats` and `explain(config) -> str` for `winnow dedup`.
- `dedup_blocks(blocks, config, executor, progress=None)` over Arrow tables / ObjectRefs / FileBlocks.
- Per-batch functions: `exact_hash_batch`, `signatures`, `band_keys`; datasketch interop via `to_datasketch`.
- `dedup.io`: the split of a table by a decision (`split_by_decision`), for `winnow dedup` and the
  pipeline's dedup stages alike. Which files a list of inputs names is `kit.files.expand_inputs`.
- `dedup.cluster_sizes`: the cluster-size buckets the ledger, `winnow dedup` and the report share.

The names below load on first use, so importing a light module (`dedup.cluster_sizes`,
`dedup.executor`) does not pull in datasketch and SciPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dedup.config import DedupConfig, ExactDedupConfig, MinHashConfig
    from dedup.engine import DedupResult, dedup_blocks, run_exact, run_near
    from dedup.exact import exact_hash, exact_hash_batch, normalize_exact
    from dedup.executor import LocalExecutor, RayExecutor
    from dedup.lsh import band_keys, bands_rows, candidate_probability, optimal_params
    from dedup.minhash import signatures, signatures_from_hashes, to_datasketch
    from dedup.run import DedupStats, explain, run_dedup
    from dedup.shingle import hash32, shingle_hashes, shingles

_LAZY = {
    "DedupConfig": "dedup.config",
    "ExactDedupConfig": "dedup.config",
    "MinHashConfig": "dedup.config",
    "DedupResult": "dedup.engine",
    "dedup_blocks": "dedup.engine",
    "run_exact": "dedup.engine",
    "run_near": "dedup.engine",
    "exact_hash": "dedup.exact",
    "exact_hash_batch": "dedup.exact",
    "normalize_exact": "dedup.exact",
    "LocalExecutor": "dedup.executor",
    "RayExecutor": "dedup.executor",
    "band_keys": "dedup.lsh",
    "bands_rows": "dedup.lsh",
    "candidate_probability": "dedup.lsh",
    "optimal_params": "dedup.lsh",
    "signatures": "dedup.minhash",
    "signatures_from_hashes": "dedup.minhash",
    "to_datasketch": "dedup.minhash",
    "DedupStats": "dedup.run",
    "explain": "dedup.run",
    "run_dedup": "dedup.run",
    "hash32": "dedup.shingle",
    "shingle_hashes": "dedup.shingle",
    "shingles": "dedup.shingle",
}

__all__ = [
    "DedupConfig",
    "DedupResult",
    "DedupStats",
    "ExactDedupConfig",
    "LocalExecutor",
    "MinHashConfig",
    "RayExecutor",
    "band_keys",
    "bands_rows",
    "candidate_probability",
    "dedup_blocks",
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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dedup' has no attribute {name!r}")
