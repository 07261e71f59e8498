"""Exact and near-duplicate stages: a global decision (in `dedup`, on Ray), then a per-part split.

`dedup` looks at the whole corpus and returns the removed ids with their
cluster and the id of the document kept; this module applies that decision
to every part, so the kept/removed split keeps the one-part-in, one-part-out
layout (and its determinism and resume) of every other stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import ray

from pipeline import storage
from pipeline.ledger import StageStats
from pipeline.stages.base import Transform
from pipeline.stages.mapping import run_map_stage

DECISION_COLUMNS = ["id", "reason", "cluster_id", "kept_id"]


@dataclass(frozen=True)
class ApplyDecision:
    """Picklable transform factory: splits a batch by the removed-ids table held in the object store."""

    removed_ref: ray.ObjectRef

    def __call__(self) -> Transform:
        removed: pa.Table = ray.get(self.removed_ref)
        ids = removed["id"].combine_chunks()

        def transform(table: pa.Table) -> tuple[pa.Table, pa.Table]:
            # One lookup gives both the split and, for removed rows, their decision row.
            idx = pc.index_in(table["id"], value_set=ids)
            mask = pc.is_valid(idx)
            kept = table.filter(pc.invert(mask))
            gone = table.filter(mask)
            extra = removed.select(DECISION_COLUMNS[1:]).take(idx.filter(mask))
            return kept, _hstack(gone, extra)

        return transform


def _hstack(a: pa.Table, b: pa.Table) -> pa.Table:
    for name in b.column_names:
        a = a.append_column(name, b[name])
    return a


def apply_decisions(
    run_dir: str, previous: str | None, stage: str, removed: pa.Table, clusters: pa.Table, batch_rows: int
) -> StageStats:
    """Write the stage's parts from the decision, plus `clusters/<stage>.parquet` for people to inspect."""
    removed = removed.select(DECISION_COLUMNS).sort_by("id")
    storage.write_parquet(storage.join(run_dir, "clusters", f"{stage}.parquet"), clusters)
    ref = ray.put(removed)
    stats = run_map_stage(run_dir, previous, stage, ApplyDecision(ref), batch_rows=batch_rows)
    stats.extra["clusters"] = int(clusters.num_rows)
    if clusters.num_rows:
        sizes = clusters["size"].to_numpy()
        hist: dict[str, int] = {}
        for s in sizes:
            key = str(int(s)) if s < 10 else ("10-99" if s < 100 else "100+")
            hist[key] = hist.get(key, 0) + 1
        stats.extra["cluster_sizes"] = dict(
            sorted(hist.items(), key=lambda kv: int(kv[0].split("-")[0].rstrip("+")))
        )
    return stats
