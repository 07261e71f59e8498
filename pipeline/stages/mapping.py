"""The part mapper: the unit of work of every per-part stage, run on Ray, resumed and summed one way.

A unit is a part name (where its stats file is kept, `<stage>/_parts/<part>.json`) and the
arguments of the function that makes it: an input part of the previous stage for the per-document
stages (filter, and the dedup stages' apply step), a source file for ingest. `run_parts` skips the
units an earlier run finished (their stats file exists), runs the rest as Ray tasks, writes each
unit's stats file last, and sums the stage's ledger entry from all of them.

Cheap transforms run as plain Ray tasks; transforms that hold a loaded model (the filter's
classifiers) run on a pool of actors so each model loads once per worker, not once per part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.executor import cluster_cpus, run_on_actors, run_tasks
from pipeline.layout import StagePaths, part_name
from pipeline.ledger import StageStats
from pipeline.stages.base import Transform, finish_part, load_part_stats, map_part

TransformFactory = Callable[[], Transform]
# Progress text for one finished unit, made from the stats of the units finished earlier.
PostfixFactory = Callable[[StageStats], Callable[[StageStats], str]]


@dataclass(frozen=True)
class Unit:
    """One part of a stage's work: `work(*args)` makes it; its stats file is named after `part`."""

    part: str
    args: tuple[Any, ...]


def resume(paths: StagePaths, units: Iterable[Unit]) -> tuple[StageStats, list[Unit]]:
    """The stats of the units an earlier run finished, summed, and the units still to do."""
    done = StageStats(name=paths.name)
    todo: list[Unit] = []
    for unit in units:
        stats = load_part_stats(paths, unit.part)
        if stats is None:
            todo.append(unit)
        else:
            done.merge(stats)
    return done, todo


def make_and_mark(work: Callable[..., StageStats], paths: StagePaths, part: str, *args: Any) -> StageStats:
    """Make one unit (in a Ray task), then write its stats file: the last thing a finished unit has."""
    stats = work(*args)
    finish_part(paths, part, stats)
    return stats


def run_parts(
    paths: StagePaths,
    units: list[Unit],
    work: Callable[..., StageStats],
    *,
    unit: str = "part",
    postfix: PostfixFactory | None = None,
) -> StageStats:
    """Every unit not finished earlier made by `work` as a Ray task; the stage's summed stats."""
    total, todo = resume(paths, units)
    note = (postfix or documents_so_far)(total)
    jobs = [(work, paths, u.part, *u.args) for u in todo]
    for stats in run_tasks(make_and_mark, jobs, total=len(todo), desc=paths.name, unit=unit, postfix=note):
        total.merge(stats)
    return total


class PartWorker:
    """Holds one transform (built once) and maps whole parts with it."""

    def __init__(self, factory: TransformFactory, run_dir: str, stage: str, batch_rows: int):
        self.transform = factory()
        self.paths = StagePaths(run_dir, stage)
        self.batch_rows = batch_rows

    def process(self, in_path: str) -> StageStats:
        part = part_name(in_path)
        return make_and_mark(map_part, self.paths, part, in_path, self.paths, self.transform, self.batch_rows)


def _map_in_task(factory: TransformFactory, paths: StagePaths, batch_rows: int, in_path: str) -> StageStats:
    return map_part(in_path, paths, factory(), batch_rows)


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
    parts = input_parts(run_dir, previous)
    if not use_actors:
        units = [Unit(part_name(p), (factory, paths, batch_rows, p)) for p in parts]
        return run_parts(paths, units, _map_in_task)
    total, todo = resume(paths, [Unit(part_name(p), (p,)) for p in parts])
    if todo:
        results = run_on_actors(
            PartWorker,
            (factory, run_dir, stage, batch_rows),
            "process",
            [u.args for u in todo],
            total=len(todo),
            desc=stage,
            num_actors=min(len(todo), actors or cluster_cpus()),
            postfix=documents_so_far(total),
        )
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
