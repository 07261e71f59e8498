"""Every part of one stage's output folder has one Arrow schema (issue 16).

A batch whose texts were redacted carries a fresh, nullable `text` column; the rejected parts used
to take the schema of their first removed batch, so `rejected/filter/` parts disagreed on `text`'s
nullability and `pyarrow.concat_tables` over them failed without promotion.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from pipeline import storage
from pipeline.layout import StagePaths
from pipeline.schema import DOCUMENT_SCHEMA, rejected_schema
from pipeline.stages.base import map_part, output_schemas


def _documents(prefix: str, texts: list[str]) -> pa.Table:
    rows = [
        {"id": f"{prefix}{i}", "text": t, "source": f"{prefix}.jsonl", "url": None, "position": i}
        for i, t in enumerate(texts)
    ]
    return pa.Table.from_pylist(rows, DOCUMENT_SCHEMA)


def redacting_filter(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """What the filter stage's `annotate` does to a batch: a redaction rebuilds the whole `text`
    column as a new (nullable) array; rows saying "drop" are removed with a reason."""
    texts = table["text"].to_pylist()
    if any("@" in t for t in texts):
        redacted = pa.array([t.replace("@", "[at]") for t in texts], pa.string())
        table = table.set_column(table.column_names.index("text"), "text", redacted)
    drop = pc.match_substring(table["text"], "drop")
    removed = table.filter(drop)
    removed = removed.append_column("reason", pa.array(["dropped"] * removed.num_rows, pa.string()))
    return table.filter(pc.invert(drop)), removed


def folder_tables(folder: Path) -> list[pa.Table]:
    return [pq.read_table(p) for p in sorted(folder.glob("*.parquet"))]


def assert_one_schema(folder: Path) -> list[pa.Table]:
    """All parts of `folder` have equal schemas and concatenate without promotion."""
    tables = folder_tables(folder)
    assert tables, folder
    first = tables[0].schema
    for t in tables[1:]:
        assert t.schema.equals(first), (folder, first, t.schema)
    pa.concat_tables(tables)  # promote_options="none": raises on any schema difference
    return tables


def test_every_part_of_a_stage_has_one_schema(tmp_path: Path) -> None:
    run = tmp_path / "run"
    # part 0: its first removed batch has no redaction (text stays non-null);
    # part 1: its first removed batch is redacted (text rebuilt as a nullable array);
    # part 2: nothing removed at all (no rejected part is written).
    inputs = {
        "part-00000": ["keep a", "drop b", "keep c", "mail x@y.org", "drop d", "keep e"],
        "part-00001": ["mail p@q.org", "drop f", "keep g", "drop h", "keep i", "keep j"],
        "part-00002": ["keep k", "keep l", "mail r@s.org"],
    }
    for name, texts in inputs.items():
        storage.write_parquet(str(run / "prev" / f"{name}.parquet"), _documents(name, texts))
    paths = StagePaths(str(run), "filter")
    for name in inputs:
        map_part(str(run / "prev" / f"{name}.parquet"), paths, redacting_filter, batch_rows=2)

    kept = assert_one_schema(run / "filter")
    assert kept[0].schema.field("text").nullable is False
    rejected = assert_one_schema(run / "rejected" / "filter")
    assert len(rejected) == 2 and not (run / "rejected" / "filter" / "part-00002.parquet").exists()
    assert rejected[0].schema.field("text").nullable is False
    assert rejected[0].schema.names[-2:] == ["stage", "reason"]
    assert sum(t.num_rows for t in rejected) == 4
    # the whole folder reads as one dataset too
    assert pads.dataset(str(run / "rejected" / "filter")).to_table().num_rows == 4
    assert pads.dataset(str(run / "filter")).to_table().num_rows == 11


def test_output_schemas_come_from_an_empty_batch() -> None:
    kept, rejected = output_schemas(redacting_filter, DOCUMENT_SCHEMA, "filter")
    assert kept.equals(DOCUMENT_SCHEMA)
    assert rejected.equals(rejected_schema(DOCUMENT_SCHEMA))


def every_parquet_folder(run_dir: str | os.PathLike) -> list[Path]:
    """Folders of a run directory that hold Parquet parts (stage outputs, rejected, quarantine, clusters)."""
    return sorted({p.parent for p in Path(run_dir).rglob("*.parquet") if not p.name.startswith(".")})
