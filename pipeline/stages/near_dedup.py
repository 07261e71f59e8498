"""Near dedup: MinHash LSH clusters across the whole corpus (in `dedup`, on Ray); one survivor each.

Runs after the filter by default, so the survivor rule can prefer the
document with the highest quality score.
"""

from __future__ import annotations

from pipeline.config import RunConfig
from pipeline.ledger import StageStats
from pipeline.stages.dedup_stage import apply_decisions
from pipeline.stages.mapping import input_parts


def run(cfg: RunConfig, run_dir: str, previous: str | None) -> StageStats:
    from dedup.engine import make_executor, run_near
    from dedup.io import plan_blocks

    dcfg = cfg.near_dedup
    parts = input_parts(run_dir, previous)
    if dcfg.minhash.enabled and parts:
        result = run_near(plan_blocks(parts, dcfg.rows_per_block), dcfg, make_executor(dcfg))
        removed, clusters, info = result.removed, result.clusters, result.info
    else:
        from dedup.survivor import empty_clusters, empty_removed

        removed, clusters, info = empty_removed(), empty_clusters(), {}
    stats = apply_decisions(run_dir, previous, "near_dedup", removed, clusters, dcfg.batch_rows)
    stats.extra.update({k: v for k, v in info.items() if isinstance(v, int | float | str)})
    return stats
