"""Shard-level machinery shared by the stages.

A stage maps each input part to one output part with the same name, in a Ray
task (or on a Ray actor when the work needs a loaded model). That one-to-one
mapping is what makes the output bytes independent of the number of workers,
and what makes resume cheap: a part whose stats file exists is finished (the
stats file is written last, after the part itself was renamed into place).
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from pipeline import storage
from pipeline.layout import StagePaths, part_name
from pipeline.ledger import StageStats
from pipeline.schema import QUARANTINE_SCHEMA, text_bytes, with_stage_reason


class RemovalWriter:
    """Lazily opened writers for a part's removed and quarantined rows.

    Every rejected part of a stage is written with the one `rejected_schema` the stage gives, never
    the schema of its first removed batch (a batch with a redacted text has a nullable `text`), so
    the parts of `rejected/<stage>/` read as one table without promotion.
    """

    def __init__(self, paths: StagePaths, part: str, rejected_schema: pa.Schema):
        self.paths = paths
        self.part = part
        self.rejected_schema = rejected_schema
        self._rejected: storage.AtomicParquetWriter | None = None
        self._quarantine: storage.AtomicParquetWriter | None = None

    def rejected(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._rejected is None:
            self._rejected = storage.AtomicParquetWriter(self.paths.rejected(self.part), self.rejected_schema)
        self._rejected.write(table)

    def quarantine(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._quarantine is None:
            self._quarantine = storage.AtomicParquetWriter(
                self.paths.quarantine(self.part), QUARANTINE_SCHEMA
            )
        self._quarantine.write(pa.Table.from_pylist(rows, QUARANTINE_SCHEMA))

    def close(self) -> None:
        for w in (self._rejected, self._quarantine):
            if w is not None:
                w.close()

    def abort(self, exc: BaseException) -> None:
        for w in (self._rejected, self._quarantine):
            if w is not None:
                w.abort(exc)


# A transform takes a batch of documents and returns (kept, removed); `removed` carries a `reason`
# column (and any extra columns it likes). It may raise: then the batch is retried row by row and the
# rows that still raise are quarantined with their error, so one bad document never stops a run.
Transform = Callable[[pa.Table], tuple[pa.Table, pa.Table]]


def map_part(
    in_path: str,
    paths: StagePaths,
    transform: Transform,
    batch_rows: int,
) -> StageStats:
    """Stream one input part through `transform` into the stage's output, rejected and quarantine parts."""
    part = part_name(in_path)
    stats = StageStats(name=paths.name)
    start = time.perf_counter()
    pf = storage.open_parquet(in_path)
    out_schema, rejected_schema = output_schemas(transform, pf.schema_arrow, paths.name)
    removals = RemovalWriter(paths, part, rejected_schema)
    try:
        with storage.AtomicParquetWriter(paths.part(part), out_schema) as out:
            for batch in pf.iter_batches(batch_size=batch_rows):
                table = pa.Table.from_batches([batch])
                stats.input += table.num_rows
                stats.bytes_in += text_bytes(table)
                kept, removed, bad = _apply(transform, table, paths.name)
                out.write(kept)
                stats.kept += kept.num_rows
                stats.bytes_out += text_bytes(kept)
                if removed.num_rows:
                    removed = _staged(removed, paths.name)
                    removals.rejected(removed)
                    for reason, n in Counter(removed["reason"].to_pylist()).items():
                        stats.add_removed(reason, n)
                if bad:
                    removals.quarantine(bad)
                    stats.quarantined += len(bad)
        removals.close()
    except BaseException as exc:
        removals.abort(exc)
        raise
    stats.seconds = time.perf_counter() - start
    stats.check()
    return stats


def output_schemas(transform: Transform, in_schema: pa.Schema, stage: str) -> tuple[pa.Schema, pa.Schema]:
    """(kept, rejected) schemas of a stage: what `transform` makes of an empty batch.

    Every part of the stage is written with these, whatever its batches hold, so all parts of one
    output folder share one schema (the document schema's non-null `text` stays non-null).
    """
    kept, removed = transform(in_schema.empty_table())
    return kept.schema, _staged(removed, stage).schema


def _staged(removed: pa.Table, stage: str) -> pa.Table:
    """Removed rows with `stage` and `reason` as their last columns (unless the transform set them)."""
    if "stage" in removed.column_names:
        return removed
    reasons = removed["reason"]
    return with_stage_reason(removed.drop_columns(["reason"]), stage, reasons)


def _apply(transform: Transform, table: pa.Table, stage: str) -> tuple[pa.Table, pa.Table, list[dict]]:
    try:
        kept, removed = transform(table)
        return kept, removed, []
    except Exception:  # the rows that raise are found below, one by one (a one-row batch too)
        pass
    kept_parts, removed_parts, bad = [], [], []
    for i in range(table.num_rows):
        row = table.slice(i, 1)
        try:
            k, r = transform(row)
            kept_parts.append(k)
            removed_parts.append(r)
        except Exception as e:  # one document's failure is quarantined, never the run's
            rec = row.to_pylist()[0]
            bad.append(
                {
                    "source": rec.get("source", ""),
                    "position": rec.get("position"),
                    "stage": stage,
                    "error": f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"[:4000],
                    "id": rec.get("id"),
                }
            )
    empty_k, empty_r = transform(table.slice(0, 0))
    kept = pa.concat_tables([empty_k, *kept_parts]) if kept_parts else empty_k
    removed = (
        pa.concat_tables([empty_r, *removed_parts], promote_options="permissive")
        if removed_parts
        else empty_r
    )
    return kept, removed, bad


def finish_part(paths: StagePaths, part: str, stats: StageStats) -> None:
    """Mark a part done: its stats file is the last thing written."""
    storage.write_json(paths.part_stats(part), stats.to_dict())


def load_part_stats(paths: StagePaths, part: str) -> StageStats | None:
    p = paths.part_stats(part)
    if storage.exists(p):
        return StageStats.from_dict(storage.read_json(p))
    return None
