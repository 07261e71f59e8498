"""Exact dedup: one copy of each normalized text survives (hash shuffle in `dedup`, on Ray)."""

from __future__ import annotations

from pipeline.config import RunConfig
from pipeline.ledger import StageStats
from pipeline.stages.dedup_stage import apply_decisions
from pipeline.stages.mapping import input_parts


def run(cfg: RunConfig, run_dir: str, previous: str | None) -> StageStats:
    from dedup.engine import make_executor, run_exact
    from dedup.io import plan_blocks

    section = cfg.exact_dedup
    dcfg = section.dedup_config()
    parts = input_parts(run_dir, previous)
    if section.enabled and parts:
        result = run_exact(plan_blocks(parts, dcfg.rows_per_block), dcfg, make_executor(dcfg))
        removed, clusters = result.removed, result.clusters
    else:
        from dedup.survivor import empty_clusters, empty_removed

        removed, clusters = empty_removed(), empty_clusters()
    return apply_decisions(run_dir, previous, "exact_dedup", removed, clusters, section.batch_rows)
