"""Filter: annotate every document with the policy's scores and language; drop or redact per policy.

The policy and its detectors live in `filters` (the same library a model server
imports); this stage only runs it over parts on a pool of Ray actors, so each
classifier loads once per worker.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import RunConfig
from pipeline.ledger import StageStats
from pipeline.stages.base import Transform
from pipeline.stages.mapping import run_map_stage


@dataclass(frozen=True)
class FilterFactory:
    """Picklable recipe for the transform; the Filter itself is built inside the worker."""

    policy_path: str
    mode: str

    def __call__(self) -> Transform:
        from filters import Filter, Policy
        from filters.arrow import annotate

        flt = Filter(Policy.load(self.policy_path), mode=self.mode)

        def transform(table: pa.Table) -> tuple[pa.Table, pa.Table]:
            annotated = annotate(flt, table)
            drop = pc.equal(annotated["action"], "drop")
            kept = annotated.filter(pc.invert(drop)).drop_columns(["reason"])
            removed = annotated.filter(drop)
            return kept, removed

        return transform


def run(cfg: RunConfig, run_dir: str, previous: str | None) -> StageStats:
    factory = FilterFactory(cfg.policy_path(), cfg.filter.mode)
    return run_map_stage(
        run_dir,
        previous,
        "filter",
        factory,
        batch_rows=cfg.filter.batch_rows,
        actors=cfg.filter.actors,
        use_actors=True,
    )
