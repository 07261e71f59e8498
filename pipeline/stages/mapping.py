"""Per-document stages: every input part mapped to an output part on Ray.

Cheap transforms run as plain Ray tasks; transforms that hold a loaded model
(the filter's classifiers) run on a pool of actors so each model loads once
per worker, not once per part.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.executor import cluster_cpus, run_on_actors, run_tasks
from pipeline.ledger import StageStats
from pipeline.stages.base import StagePaths, Transform, finish_part, load_part_stats, map_part, part_name

TransformFactory = Callable[[], Transform]


class PartWorker:
    """Holds one transform (built once) and maps whole parts with it."""

    def __init__(self, factory: TransformFactory, run_dir: str, stage: str, batch_rows: int):
        self.transform = factory()
        self.paths = StagePaths(run_dir, stage)
        self.batch_rows = batch_rows

    def process(self, in_path: str) -> StageStats:
        stats = map_part(in_path, self.paths, self.transform, self.batch_rows)
        finish_part(self.paths, part_name(in_path), stats)
        return stats


def _process_in_task(factory: TransformFactory, run_dir: str, stage: str, batch_rows: int, in_path: str):
    return PartWorker(factory, run_dir, stage, batch_rows).process(in_path)


def input_parts(run_dir: str, previous: str | None) -> list[str]:
    if previous is None:
        raise ValueError("this stage needs an earlier stage's output")
    return StagePaths(run_dir, previous).output_parts()


def run_map_stage(
    run_dir: str,
    previous: str | None,
    stage: str,
    factory: TransformFactory,
    *,
    batch_rows: int,
    actors: int | None = None,
    use_actors: bool = False,
) -> StageStats:
    """Map every part of `previous` through the transform, skipping parts finished earlier."""
    paths = StagePaths(run_dir, stage)
    total = StageStats(name=stage)
    todo: list[str] = []
    for in_path in input_parts(run_dir, previous):
        stats = load_part_stats(paths, part_name(in_path))
        if stats is None:
            todo.append(in_path)
        else:
            total.merge(stats)
    postfix = documents_so_far(total)
    if use_actors and todo:
        n = min(len(todo), actors or cluster_cpus())
        results = run_on_actors(
            PartWorker,
            (factory, run_dir, stage, batch_rows),
            "process",
            [(p,) for p in todo],
            total=len(todo),
            desc=stage,
            num_actors=n,
            postfix=postfix,
        )
    else:
        jobs = [(factory, run_dir, stage, batch_rows, p) for p in todo]
        results = run_tasks(_process_in_task, jobs, total=len(todo), desc=stage, postfix=postfix)
    for stats in results:
        total.merge(stats)
    return total


def documents_so_far(total: StageStats) -> Callable[[StageStats], str]:
    """Progress text: documents through the stage so far (parts finished earlier included).

    It counts the finished parts itself: the caller merges a part into `total` only after the
    progress bar has seen it.
    """
    seen = total.input

    def note(part: StageStats) -> str:
        nonlocal seen
        seen += part.input
        return f"{seen:,} documents"

    return note
