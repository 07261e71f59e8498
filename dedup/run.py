"""File-level entry points for `winnow dedup`: run_dedup (inputs → out_dir) and explain (the S-curve)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from dedup.cluster_sizes import cluster_size_histogram
from dedup.config import DedupConfig
from dedup.engine import DedupResult, dedup_blocks, make_executor
from dedup.io import (
    DedupInputError,
    FileBlock,
    block_problem,
    load_block_checked,
    plan_blocks,
    split_by_decision,
    write_parquet_atomic,
)
from dedup.lsh import explain as _explain_minhash
from kit.files import expand_inputs, write_text_atomic
from kit.jsonl import MAX_NAMED

DECISION_COLUMNS = ["stage", "reason", "cluster_id", "kept_id"]
QUARANTINE_SCHEMA = pa.schema(
    [("source", pa.string()), ("line", pa.int64()), ("stage", pa.string()), ("error", pa.string())]
)


class DedupStats(BaseModel):
    """What a dedup run did; `documents_in == kept + removed_exact + removed_near + quarantined` always.

    `quarantined` counts malformed JSONL lines (written to quarantine/ with file, line and reason);
    `quarantine_examples` names the first few of them."""

    model_config = ConfigDict(extra="forbid")

    documents_in: int
    kept: int
    removed_exact: int
    removed_near: int
    quarantined: int = 0
    quarantine_examples: list[str] = Field(default_factory=list)
    bytes_in: int
    bytes_removed: int
    exact_clusters: int
    near_clusters: int
    cluster_size_histogram: dict[str, int]
    bands: int | None = None
    rows: int | None = None
    candidate_pairs: int | None = None
    verified_pairs: int | None = None
    cc_iterations: int | None = None
    index_added: int | None = None
    seconds: float


def explain(config: DedupConfig) -> str:
    """Text for `winnow dedup --explain`: settings and P(candidate) at Jaccard 0.0..1.0."""
    head = f"exact dedup: {'on' if config.exact.enabled else 'off'} (xxh3-128 of NFKC-lowercased, whitespace-collapsed text)"
    if not config.minhash.enabled:
        return head + "\nnear dedup: off"
    return head + "\n" + _explain_minhash(config.minhash)


def _write_block(out_dir: str, i: int, removed: pa.Table, block: Any) -> tuple[int, int, int, list[str]]:
    """Part i of kept/ and rejected/ (`removed`: id and the DECISION_COLUMNS a rejected row gets), and
    of quarantine/ when the block has malformed lines; returns (documents, kept text bytes,
    malformed lines, the first few of them)."""
    table, bad = load_block_checked(block)
    kept, rej = split_by_decision(table, removed)
    write_parquet_atomic(kept, Path(out_dir) / "kept" / f"part-{i:05d}.parquet")
    write_parquet_atomic(rej, Path(out_dir) / "rejected" / f"part-{i:05d}.parquet")
    quarantine_part = Path(out_dir) / "quarantine" / f"part-{i:05d}.parquet"
    if bad:
        rows = [{"source": b.path, "line": b.line, "stage": "dedup", "error": b.reason} for b in bad]
        write_parquet_atomic(pa.Table.from_pylist(rows, QUARANTINE_SCHEMA), quarantine_part)
    else:
        quarantine_part.unlink(missing_ok=True)  # an earlier run's part for this block is no longer true
    text_bytes = int(pc.sum(pc.binary_length(kept["text"])).as_py() or 0) if kept.num_rows else 0
    return kept.num_rows + rej.num_rows, text_bytes, len(bad), [str(b) for b in bad[:MAX_NAMED]]


def stats_of(
    result: DedupResult,
    documents_in: int,
    bytes_in: int,
    seconds: float,
    quarantined: int = 0,
    quarantine_examples: list[str] | None = None,
) -> DedupStats:
    """The stats of a dedup result; `documents_in` counts the quarantined (malformed) lines too."""
    r = result.removed
    reasons = r["reason"].to_pylist()
    cl = result.clusters
    kinds = np.array(cl["kind"].to_pylist(), dtype=object)
    info = result.info
    return DedupStats(
        documents_in=documents_in,
        kept=documents_in - r.num_rows - quarantined,
        removed_exact=reasons.count("exact_duplicate"),
        removed_near=reasons.count("near_duplicate"),
        quarantined=quarantined,
        quarantine_examples=list(quarantine_examples or []),
        bytes_in=bytes_in,
        bytes_removed=int(pc.sum(r["text_bytes"]).as_py() or 0) if r.num_rows else 0,
        exact_clusters=int((kinds == "exact_duplicate").sum()),
        near_clusters=int((kinds == "near_duplicate").sum()),
        cluster_size_histogram=cluster_size_histogram(cl["size"].to_pylist()),
        bands=info.get("bands"),
        rows=info.get("rows"),
        candidate_pairs=info.get("candidate_pairs"),
        verified_pairs=info.get("verified_pairs"),
        cc_iterations=info.get("cc_iterations"),
        index_added=info.get("index_added"),
        seconds=round(seconds, 3),
    )


def run_dedup(
    input_paths: list[str],
    out_dir: str,
    config: DedupConfig,
    progress: Callable[[str], None] | None = None,
) -> DedupStats:
    """Dedup JSONL/Parquet files (or directories of them) with `id` and `text` into out_dir.

    Writes kept/part-*.parquet, rejected/part-*.parquet (all columns + stage, reason, cluster_id, kept_id),
    clusters.parquet (cluster_id, kept_id, kind, size, members) and stats.json. Part i comes from input
    block i, so the output is the same whatever the worker count. Malformed JSONL lines are left out of
    the dedup and written to quarantine/part-i.parquet (source, line, stage, error), counted in the stats.
    An input that cannot be read as documents raises DedupInputError before any dedup work.
    `progress(message)` is told when each step ends (the command line reports it on long runs).
    """
    t0 = time.perf_counter()
    blocks: list[FileBlock] = plan_blocks(expand_inputs(input_paths), config.rows_per_block)
    if not blocks:
        raise ValueError(f"no input files in {input_paths}")
    ex = make_executor(config)
    problems = ex.get([ex.submit(block_problem, b, num_returns=1) for b in blocks])
    if problem := next((p for p in problems if p), None):
        raise DedupInputError(problem)
    say = progress or (lambda _message: None)
    say(f"{len(blocks)} input blocks checked")
    result = dedup_blocks(blocks, config, ex, progress)
    removed = ex.put(result.removed.select(["id", *DECISION_COLUMNS]))
    counts = ex.get(
        [ex.submit(_write_block, out_dir, i, removed, b, num_returns=1) for i, b in enumerate(blocks)]
    )
    quarantined = sum(c[2] for c in counts)
    documents_in = sum(c[0] for c in counts) + quarantined
    kept_bytes = sum(c[1] for c in counts)
    examples = [line for c in counts for line in c[3]][:MAX_NAMED]
    say(f"kept and rejected documents written ({len(blocks)} part files each)")
    write_parquet_atomic(result.clusters, Path(out_dir) / "clusters.parquet")
    bytes_removed = int(pc.sum(result.removed["text_bytes"]).as_py() or 0) if result.removed.num_rows else 0
    seconds = time.perf_counter() - t0
    stats = stats_of(result, documents_in, kept_bytes + bytes_removed, seconds, quarantined, examples)
    write_text_atomic(Path(out_dir) / "stats.json", json.dumps(stats.model_dump(), indent=1))
    return stats
