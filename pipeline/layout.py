"""The run directory's layout: where each file of a run lives (ARCHITECTURE.md, "Run directory").

The one place for these names: the runner, the stages, preflight, the report and the command line
all take them from here, and `pipeline.storage` reads and writes them (local paths or fsspec URIs).

    <run_dir>/config.yaml               CONFIG: the run's config, fully resolved
    <run_dir>/stats.json                STATS: the ledger
    <run_dir>/report.html               REPORT
    <run_dir>/<stage>/part-*.parquet    a stage's output (tokenize: tokens/), with _SUCCESS and _parts/
    <run_dir>/rejected/<stage>/         removed documents
    <run_dir>/quarantine/<stage>/       unreadable input
    <run_dir>/clusters/<stage>.parquet  a dedup stage's clusters
    <run_dir>/tokens/manifest.json      the tokenized dataset's manifest (its names: `tokenization.pack`)
    <run_dir>/train/                    where a training log of the run is looked for
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline import storage

CONFIG = "config.yaml"
STATS = "stats.json"
REPORT = "report.html"
REJECTED_DIR = "rejected"
QUARANTINE_DIR = "quarantine"
CLUSTERS_DIR = "clusters"
TRAIN_DIR = "train"
SUCCESS = "_SUCCESS"
PARTS_STATE_DIR = "_parts"
# Every part a stage writes (kept, rejected, quarantined) is named `part-...parquet`.
PART_PREFIX = "part-"

# A stage's output directory is named after the stage, except tokenize's: `tokens/`, the tokenized
# dataset's contract (ARCHITECTURE.md, "Tokenized dataset").
OUTPUT_DIRS = {"tokenize": "tokens"}


def config_path(run_dir: str) -> str:
    return storage.join(run_dir, CONFIG)


def stats_path(run_dir: str) -> str:
    return storage.join(run_dir, STATS)


def report_path(run_dir: str) -> str:
    return storage.join(run_dir, REPORT)


def clusters_dir(run_dir: str) -> str:
    return storage.join(run_dir, CLUSTERS_DIR)


def clusters_path(run_dir: str, stage: str) -> str:
    """`clusters/<stage>.parquet`: one file per dedup stage, named after the stage (not a part)."""
    return storage.join(clusters_dir(run_dir), f"{stage}.parquet")


def cluster_files(run_dir: str) -> list[str]:
    """The clusters files of a run in name order; they are named after their stage, not parts."""
    return [
        p
        for p in storage.listdir(clusters_dir(run_dir), ".parquet")
        if not os.path.basename(p).startswith("_")
    ]


def quarantine_root(run_dir: str) -> str:
    """`quarantine/`: one folder per stage that quarantined records."""
    return storage.join(run_dir, QUARANTINE_DIR)


def train_dir(run_dir: str) -> str:
    return storage.join(run_dir, TRAIN_DIR)


def tokens_dir(run_dir: str) -> str:
    return StagePaths(run_dir, "tokenize").out_dir


def tokens_manifest(run_dir: str) -> str:
    # Imported here: the tokenizer library loads only when a caller looks at the tokens.
    from tokenization.pack import MANIFEST

    return storage.join(tokens_dir(run_dir), MANIFEST)


def part_name(path: str) -> str:
    """`.../part-00003.parquet` -> `part-00003` (and `clusters/near_dedup.parquet` -> `near_dedup`)."""
    return os.path.basename(path).rsplit(".", 1)[0]


def parts(directory: str) -> list[str]:
    """The parts of an output folder (`<stage>/`, `rejected/<stage>/`, `quarantine/<stage>/`), in name
    order: its `part-*.parquet` files (not `_SUCCESS`, `_parts/` or a temporary)."""
    return [p for p in storage.listdir(directory, ".parquet") if os.path.basename(p).startswith(PART_PREFIX)]


@dataclass(frozen=True)
class StagePaths:
    """Where one stage of a run writes (ARCHITECTURE.md, "Run directory").

    Everything a stage keeps is in one directory, `out_dir`, with the stage's `_SUCCESS` marker
    beside it; removed and quarantined rows are under `rejected/<stage>/` and `quarantine/<stage>/`.
    """

    run_dir: str
    name: str

    @property
    def out_dir(self) -> str:
        return storage.join(self.run_dir, OUTPUT_DIRS.get(self.name, self.name))

    @property
    def legacy_marker_dir(self) -> str | None:
        """Where run directories made before issue 16 kept this stage's `_SUCCESS`, when that was not
        `out_dir` (`tokenize/`, beside `tokens/`). Such a marker does not count as done: the stage is
        run again (it replaces its whole output), and the old directory is removed after it."""
        legacy = storage.join(self.run_dir, self.name)
        return legacy if legacy != self.out_dir else None

    @property
    def rejected_dir(self) -> str:
        return storage.join(self.run_dir, REJECTED_DIR, self.name)

    @property
    def quarantine_dir(self) -> str:
        return storage.join(self.run_dir, QUARANTINE_DIR, self.name)

    @property
    def parts_state_dir(self) -> str:
        return storage.join(self.out_dir, PARTS_STATE_DIR)

    @property
    def success(self) -> str:
        return storage.join(self.out_dir, SUCCESS)

    def part(self, part: str) -> str:
        return storage.join(self.out_dir, f"{part}.parquet")

    def rejected(self, part: str) -> str:
        return storage.join(self.rejected_dir, f"{part}.parquet")

    def quarantine(self, part: str) -> str:
        return storage.join(self.quarantine_dir, f"{part}.parquet")

    def part_stats(self, part: str) -> str:
        return storage.join(self.parts_state_dir, f"{part}.json")

    def output_parts(self) -> list[str]:
        return parts(self.out_dir)
