"""Exact and near-duplicate stages: a global decision (in `dedup`, on Ray), then a per-part split.

`dedup` looks at the whole corpus and returns the removed ids with their
cluster and the id of the document kept; this module applies that decision
to every part (with `dedup.io.split_by_decision`, as `winnow dedup` does), so
the kept/removed split keeps the one-part-in, one-part-out layout (and its
determinism and resume) of every other stage. Cluster sizes are counted in
`dedup.cluster_sizes`' buckets.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import ray

from dedup.cluster_sizes import cluster_size_histogram
from dedup.io import split_by_decision
from pipeline import layout, storage
from pipeline.ledger import StageStats
from pipeline.stages.base import Transform
from pipeline.stages.mapping import run_map_stage

# What a rejected row gets from the decision (the pipeline adds its own stage name after them).
DECISION_COLUMNS = ["id", "reason", "cluster_id", "kept_id"]


@dataclass(frozen=True)
class ApplyDecision:
    """Picklable transform factory: splits a batch by the removed-ids table held in the object store."""

    removed_ref: ray.ObjectRef

    def __call__(self) -> Transform:
        removed: pa.Table = ray.get(self.removed_ref)
        return lambda table: split_by_decision(table, removed)


def apply_decisions(
    run_dir: str, previous: str | None, stage: str, removed: pa.Table, clusters: pa.Table, batch_rows: int
) -> StageStats:
    """Write the stage's parts from the decision, plus `clusters/<stage>.parquet` for people to inspect."""
    removed = removed.select(DECISION_COLUMNS).sort_by("id").combine_chunks()
    storage.write_parquet(layout.clusters_path(run_dir, stage), clusters)
    ref = ray.put(removed)
    stats = run_map_stage(run_dir, previous, stage, ApplyDecision(ref), batch_rows=batch_rows)
    stats.extra["clusters"] = int(clusters.num_rows)
    if clusters.num_rows:
        stats.extra["cluster_sizes"] = cluster_size_histogram(clusters["size"].to_pylist())
    return stats
