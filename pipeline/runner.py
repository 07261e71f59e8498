"""The stage runner: runs the configured stages in order into a run directory.

A stage with `_SUCCESS` (beside its output) is skipped on rerun; inside a
stage, finished parts are skipped too, so a killed run resumes where it
stopped. After every stage the ledger is checked and `stats.json` rewritten.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline import layout, storage
from pipeline.config import RunConfig, dump_config
from pipeline.layout import StagePaths
from pipeline.ledger import StageStats, ledger_dict
from pipeline.preflight import check_run_dir, run_dir_busy
from pipeline.stages.base import load_part_stats

log = logging.getLogger("winnow")

# Sources named one by one in the end-of-run warning about wholly quarantined sources; the rest counted.
MAX_SOURCE_WARNINGS = 10
MAX_REASON_CHARS = 120


@dataclass
class RunResult:
    run_dir: str
    stages: list[StageStats]
    ledger: dict


STAGE_MODULES = {
    "ingest": "pipeline.stages.ingest",
    "exact_dedup": "pipeline.stages.exact_dedup",
    "filter": "pipeline.stages.filtering",
    "near_dedup": "pipeline.stages.near_dedup",
    "tokenize": "pipeline.stages.tokenize",
}


def stage_function(name: str) -> Callable[[RunConfig, str, str | None], StageStats]:
    """`run(cfg, run_dir, previous_stage) -> StageStats` of a stage (imported only when it runs)."""
    import importlib

    return importlib.import_module(STAGE_MODULES[name]).run


def prepare_run_dir(cfg: RunConfig, run_dir: str, *, restart: bool = False) -> None:
    """Create the run directory; refuse to resume one that was made with a different config.

    Resuming removes the temporaries that writers killed with an earlier run left behind; the
    caller holds the run directory's lock, so none of them belongs to a live writer.
    """
    if restart:
        storage.remove_tree(run_dir)
    check_run_dir(cfg, run_dir)
    storage.makedirs(run_dir)
    storage.remove_temporaries(run_dir)
    storage.write_text(layout.config_path(run_dir), dump_config(cfg))


def print_line(text: str) -> None:
    """run_pipeline's messages go to stdout, flushed, between the CLI's stage lines."""
    print(text, flush=True)


def print_warning(text: str) -> None:
    """run_pipeline's warnings go to stderr, like preflight's."""
    print(text, file=sys.stderr, flush=True)


def run_pipeline(
    cfg: RunConfig,
    run_dir: str,
    *,
    restart: bool = False,
    on_stage: Callable[[StageStats], None] | None = None,
    say: Callable[[str], None] = print_line,
    warn: Callable[[str], None] = print_warning,
) -> RunResult:
    """Run every configured stage; return the ledger. Ray must already be initialized.

    `on_stage(stats)` is called after each stage that ran. A stage finished by an earlier run is
    not run again, and `say` announces "<stage>: skipped (already done)" instead: its old counts and
    timing are in the ledger, not news. When no document is left, `say` names the stage that
    removed the last one, so an empty output reads as a result rather than a failure. Last, `warn`
    gets a line per source of which every record was quarantined (`quarantined_source_warnings`).
    """
    try:
        with storage.run_dir_lock(run_dir):
            prepare_run_dir(cfg, run_dir, restart=restart)
            result = _run_stages(cfg, run_dir, on_stage, say)
    except storage.RunDirBusy as e:
        raise run_dir_busy(e) from None
    for line in quarantined_source_warnings(result.stages, run_dir):
        warn(line)
    return result


def _run_stages(
    cfg: RunConfig,
    run_dir: str,
    on_stage: Callable[[StageStats], None] | None,
    say: Callable[[str], None],
) -> RunResult:
    """The stages in order, skipping those an earlier run finished; the ledger after each."""
    done: list[StageStats] = []
    previous: str | None = None
    for name in cfg.stages:
        paths = StagePaths(run_dir, name)
        if storage.exists(paths.success):
            stats = resumed_stats(paths)
            say(f"  {name}: skipped (already done)")
        else:
            stats = run_stage(cfg, run_dir, name, previous)
            mark_done(paths, stats)
            if on_stage:
                on_stage(stats)
        done.append(stats)
        storage.write_json(layout.stats_path(run_dir), ledger_dict(done))
        previous = name
    note = empty_output_note(done)
    if note:
        say(note)
    ledger = ledger_dict(done)
    storage.write_json(layout.stats_path(run_dir), ledger)
    return RunResult(run_dir, done, ledger)


def mark_done(paths: StagePaths, stats: StageStats) -> None:
    """Write the stage's `_SUCCESS` (its ledger entry) beside its output, last; then drop the marker
    directory an older layout kept apart from the output, which this run has just redone."""
    storage.write_json(paths.success, stats.to_dict())
    if paths.legacy_marker_dir is not None:
        storage.remove_tree(paths.legacy_marker_dir)


def resumed_stats(paths: StagePaths) -> StageStats:
    """The ledger entry a finished stage left, marked as resumed."""
    stats = StageStats.from_dict(storage.read_json(paths.success))
    stats.extra["resumed"] = True
    log.info("stage %s: finished earlier, skipped", paths.name)
    return stats


def run_stage(cfg: RunConfig, run_dir: str, name: str, previous: str | None) -> StageStats:
    """Run one stage, time it and check that its counts reconcile."""
    start = time.perf_counter()
    stats = stage_function(name)(cfg, run_dir, previous)
    stats.seconds = round(time.perf_counter() - start, 3)
    stats.check()
    return stats


def empty_output_note(stages: list[StageStats]) -> str | None:
    """The line "no documents left after <stage>; ..." when the document stages ended with none."""
    documents = [s for s in stages if s.name != "tokenize"]
    if not documents or documents[-1].kept:
        return None
    emptied = next(s.name for s in documents if not s.kept)
    consequence = (
        "nothing to tokenize" if any(s.name == "tokenize" for s in stages) else "the output is empty"
    )
    return f"no documents left after {emptied}; {consequence}"


def quarantined_source_warnings(stages: list[StageStats], run_dir: str) -> list[str]:
    """`warning: source NAME: all N records quarantined (first reason: ...)` for each source of which
    ingest kept nothing readable: a wrong `format` or path, which the counts alone do not name.

    Only sources with a quarantine part are looked at (that part's stats say whether all of the
    source was quarantined), and only when ingest quarantined anything.
    """
    ingest = next((s for s in stages if s.name == "ingest"), None)
    if ingest is None or not ingest.quarantined:
        return []
    paths = StagePaths(run_dir, "ingest")
    found = [w for w in (_whole_source_warning(paths, p) for p in layout.parts(paths.quarantine_dir)) if w]
    more = len(found) - MAX_SOURCE_WARNINGS
    if more > 0:
        tail = f"warning: and {more} more sources with every record quarantined; see {paths.quarantine_dir}"
        found = [*found[:MAX_SOURCE_WARNINGS], tail]
    return found


def _whole_source_warning(paths: StagePaths, quarantine_part: str) -> str | None:
    """The warning for one ingest part (one source file) when all its records were quarantined."""
    stats = load_part_stats(paths, layout.part_name(quarantine_part))
    if stats is None or not stats.input or stats.quarantined != stats.input:
        return None
    first = storage.open_parquet(quarantine_part).read_row_group(0, columns=["source", "error"])
    if not first.num_rows:
        return None
    source, error = first.column("source")[0].as_py(), first.column("error")[0].as_py()
    reason = error if len(error) <= MAX_REASON_CHARS else error[: MAX_REASON_CHARS - 1] + "…"
    records = f"all {stats.input:,} records" if stats.input != 1 else "its only record"
    return f"warning: source {source}: {records} quarantined (first reason: {reason}); check its format/path"


def last_document_stage(run_dir: str) -> list[str]:
    """Parquet parts of the last finished document stage of a run (what `tokenize` reads)."""
    import yaml

    stages = yaml.safe_load(storage.read_text(layout.config_path(run_dir)))["stages"]
    for name in reversed([s for s in stages if s != "tokenize"]):
        paths = StagePaths(run_dir, name)
        if storage.exists(paths.success):
            return paths.output_parts()
    raise ValueError(f"{run_dir} has no finished document stage")
