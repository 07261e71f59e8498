"""Parquet reader: batches of a few columns (memory bounded by one batch), row group by row group.

Row counts come from the file footer, so a corrupt row group or a missing text column still
accounts for every row: each unreadable row becomes a `BadRecord` at its own position.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from ingest.records import BadRecord, Record, describe
from ingest.tracked import TrackedFile

_OPTIONAL = ("url", "id")


def read_parquet(
    source: TrackedFile, *, text_field: str = "text", max_doc_bytes: int = 50_000_000, batch_size: int = 1024
) -> Iterator[Record | BadRecord]:
    """Documents of a Parquet file: `text_field` (string), `url` and `id` columns when present."""
    try:
        pf = pq.ParquetFile(source.path)
    except (pa.ArrowException, OSError) as e:
        yield source.stopped(0, f"unreadable parquet file: {describe(e)}")
        return
    names = set(pf.schema_arrow.names)
    position = 0
    for rg in range(pf.num_row_groups):
        rows = pf.metadata.row_group(rg).num_rows
        end = position + rows
        if text_field not in names:
            for p in range(position, end):
                yield BadRecord(p, f"no column {text_field!r} (columns: {sorted(names)})")
            position = end
            continue
        columns = [text_field, *(c for c in _OPTIONAL if c in names and c != text_field)]
        try:
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=[rg], columns=columns):
                cols = {name: batch.column(name).to_pylist() for name in columns}
                for i, text in enumerate(cols[text_field]):
                    yield _row(position, text, cols, i, text_field, max_doc_bytes)
                    position += 1
        except (pa.ArrowException, OSError) as e:
            for p in range(position, end):
                yield BadRecord(p, f"unreadable row group {rg}: {describe(e)}")
            position = end


def _row(position: int, text, cols: dict, i: int, text_field: str, max_doc_bytes: int) -> Record | BadRecord:
    if not isinstance(text, str):
        got = "null" if text is None else type(text).__name__
        return BadRecord(position, f"column {text_field!r} is {got}, not a string")
    size = len(text.encode("utf-8")) if len(text) * 4 > max_doc_bytes else len(text)
    if size > max_doc_bytes:
        return BadRecord(position, f"document too large: {size} bytes (limit {max_doc_bytes})")
    url = cols["url"][i] if "url" in cols else None
    meta = {"orig_id": str(cols["id"][i])} if "id" in cols and cols["id"][i] is not None else {}
    return Record(position, text, url if isinstance(url, str) and url else None, meta)
