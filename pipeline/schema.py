"""The document schema every stage reads and writes (ARCHITECTURE.md, "Documents")."""

from __future__ import annotations

import hashlib

import pyarrow as pa

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        # Ordinal of the record among the documents of its source: with `source` it gives
        # the "source order" that dedup's survivor rule falls back to.
        pa.field("position", pa.int64(), nullable=False),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("position", pa.int64()),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("error", pa.string(), nullable=False),
        pa.field("id", pa.string()),
    ]
)


def rejected_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` plus the `stage` and `reason` columns every removed document carries."""
    return schema.append(pa.field("stage", pa.string())).append(pa.field("reason", pa.string()))


def document_id(source: str, position: int) -> str:
    """Stable id from the source URI and the record's position: independent of sharding and workers."""
    return hashlib.blake2b(f"{source}\n{position}".encode(), digest_size=16).hexdigest()


def with_stage_reason(
    table: pa.Table, stage: str, reasons: list[str] | pa.Array | pa.ChunkedArray
) -> pa.Table:
    """Removed documents keep every column plus `stage` and `reason`."""
    if not isinstance(reasons, pa.Array | pa.ChunkedArray):
        reasons = pa.array(reasons, pa.string())
    table = table.append_column("stage", pa.array([stage] * table.num_rows, pa.string()))
    return table.append_column("reason", reasons)


def text_bytes(table: pa.Table, column: str = "text") -> int:
    """UTF-8 bytes of a text column, without materializing Python strings."""
    if table.num_rows == 0 or column not in table.column_names:
        return 0
    import pyarrow.compute as pc

    return int(pc.sum(pc.binary_length(table[column])).as_py() or 0)
