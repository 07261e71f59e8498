"""Input files and blocks (files read inside tasks), the member view of a block, the split of a block
by a dedup decision, and atomic Parquet writes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from dedup.survivor import MEMBER_SCHEMA
from kit.files import atomic_write, document_format, split_compression
from kit.jsonl import BadLine, parse_object_line, valid_unicode
from kit.parquet import open_parquet


class DedupInputError(ValueError):
    """An input dedup cannot read; the message names the file and says what to change."""


@dataclass(frozen=True)
class FileBlock:
    """A slice of one input file, read by the task that processes it (texts never pass the driver)."""

    path: str
    fmt: str  # "parquet" or "jsonl"
    row_groups: tuple[int, ...] | None = None


def input_format(path: str) -> str:
    """The format of a dedup input by its name ("parquet" or "jsonl"); anything else is a DedupInputError."""
    fmt = document_format(path)
    if fmt is None:
        raise DedupInputError(
            f"unsupported input {path}: dedup reads .parquet and .jsonl files (.jsonl may be .gz or .zst) "
            "— give those, or directories holding them"
        )
    return fmt


def parquet_metadata(path: str) -> pq.FileMetaData:
    """The footer of a Parquet input; a file that is not Parquet is a DedupInputError naming it."""
    return open_parquet(path, DedupInputError).metadata


def check_inputs(paths: list[str]) -> None:
    """Refuse, before any work, an input file dedup cannot read by its name or its Parquet footer."""
    for path in paths:
        if input_format(path) == "parquet":
            parquet_metadata(path)


def plan_blocks(paths: list[str], rows_per_block: int) -> list[FileBlock]:
    """Deterministic blocks: Parquet row groups packed up to rows_per_block; one block per JSONL file."""
    blocks: list[FileBlock] = []
    for path in sorted(paths):
        fmt = input_format(path)
        if fmt == "parquet":
            md = parquet_metadata(path)
            group: list[int] = []
            rows = 0
            for g in range(md.num_row_groups):
                if group and rows + md.row_group(g).num_rows > rows_per_block:
                    blocks.append(FileBlock(path, "parquet", tuple(group)))
                    group, rows = [], 0
                group.append(g)
                rows += md.row_group(g).num_rows
            if group or md.num_row_groups == 0:  # an empty file is a block too: its part keeps the schema
                blocks.append(FileBlock(path, "parquet", tuple(group)))
        else:
            blocks.append(FileBlock(path, "jsonl"))
    return blocks


def load_block(block: Any) -> pa.Table:
    """A block as an Arrow table: tables pass through, FileBlocks are read here (inside the task).

    Malformed JSONL lines are left out (`load_block_checked` says which)."""
    return load_block_checked(block)[0]


def load_block_checked(block: Any) -> tuple[pa.Table, list[BadLine]]:
    """`load_block`, and the JSONL lines of the block that are not documents (see `read_jsonl_checked`)."""
    bad: list[BadLine] = []
    if isinstance(block, pa.Table):
        table = block
    elif isinstance(block, pa.RecordBatch):
        table = pa.Table.from_batches([block])
    elif isinstance(block, FileBlock):
        if block.fmt == "parquet":
            table = pq.ParquetFile(block.path).read_row_groups(list(block.row_groups or []))
        else:
            table, bad = read_jsonl_checked(block.path)
    else:
        raise TypeError(f"unsupported block type {type(block)!r}")
    if "id" not in table.column_names or "text" not in table.column_names:
        where = f"{block.path}: " if isinstance(block, FileBlock) else ""
        raise DedupInputError(f"{where}documents need `id` and `text` fields (found {table.column_names})")
    if table.schema.field("id").type != pa.string():
        table = table.set_column(table.schema.get_field_index("id"), "id", pc.cast(table["id"], pa.string()))
    return table, bad


EMPTY_DOCUMENTS = pa.schema([("id", pa.string()), ("text", pa.string())])
_BLANK_SCAN_BYTES = 1 << 20


def block_problem(block: Any) -> str | None:
    """Why a block cannot be deduplicated (no `id`/`text`, JSONL that is not one table), or None.

    Run as a task before the shuffles, it returns the reason instead of raising, so that a bad
    input is one error in the driver rather than failed tasks all through the run."""
    try:
        if isinstance(block, FileBlock) and block.fmt == "parquet":
            names = pq.read_schema(block.path).names
            if "id" not in names or "text" not in names:
                return f"{block.path}: documents need `id` and `text` columns (found {names})"
        else:
            load_block_checked(block)
    except DedupInputError as e:
        return str(e)
    return None


def _open_jsonl(path: str) -> pa.NativeFile:
    """A JSONL file's bytes, decompressed as its name says (`kit.files.split_compression`)."""
    return pa.input_stream(path, compression=split_compression(path)[1])


def _is_blank(path: str) -> bool:
    """Whether a (possibly compressed) JSONL file holds nothing but whitespace, read in bounded blocks."""
    with _open_jsonl(path) as f:
        while block := f.read(_BLANK_SCAN_BYTES):
            if block.strip():
                return False
    return True


def _jsonl_lines(path: str) -> Iterator[bytes]:
    """The lines of a (possibly compressed) JSONL file without their newline, read in bounded blocks."""
    rest = b""
    with _open_jsonl(path) as f:
        while block := f.read(_BLANK_SCAN_BYTES):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            yield from lines
    if rest:
        yield rest


def read_jsonl_checked(path: str) -> tuple[pa.Table, list[BadLine]]:
    """A JSONL file as a table, and its lines that are not documents.

    An empty (or all-blank) file is zero documents, not an error. A file Arrow's reader refuses (a
    malformed line, not UTF-8, not JSON, not an object: `kit.jsonl.parse_object_line`; a line longer
    than its block; a lone surrogate escape) is read again line by line: every good line is kept,
    every bad one is returned with its line number. Raises DedupInputError when the good lines still
    do not make one table (a field that changes type between lines).
    """
    if _is_blank(path):
        return EMPTY_DOCUMENTS.empty_table(), []
    with _open_jsonl(path) as f:
        try:
            return pajson.read_json(f), []
        except pa.ArrowInvalid:
            pass  # judged line by line below
    good: list[dict[str, Any]] = []
    bad: list[BadLine] = []
    for line_no, line in enumerate(_jsonl_lines(path), 1):
        if not line.strip():
            continue
        parsed = parse_object_line(line.strip())
        if isinstance(parsed, str):
            bad.append(BadLine(path, line_no, parsed))
        else:
            good.append(valid_unicode(parsed))
    if not good:
        return EMPTY_DOCUMENTS.empty_table(), bad
    columns: dict[str, pa.Array] = {}
    for name in dict.fromkeys(key for row in good for key in row):  # every field, in first-seen order
        try:
            columns[name] = pa.array([row.get(name) for row in good])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            reason = str(e).splitlines()[0][:200]
            raise DedupInputError(
                f"cannot read {path}: field {name!r} changes type between lines ({reason}) — give each "
                "field one type on every line, or convert the file to Parquet"
            ) from None
    return pa.table(columns), bad


def members(table: pa.Table) -> pa.Table:
    """Survivor attributes of each document (no text): id, UTF-8 length, quality, source, position."""
    n = table.num_rows

    def col(name: str, typ: pa.DataType) -> pa.Array:
        if name in table.column_names:
            return pc.cast(table[name], typ).combine_chunks()
        return pa.nulls(n, typ)

    text = table["text"].combine_chunks()
    length = pc.fill_null(pc.binary_length(text), 0).cast(pa.int64())
    return pa.Table.from_arrays(
        [
            col("id", pa.string()),
            length,
            col("quality", pa.float64()),
            col("source", pa.string()),
            col("position", pa.int64()),
            pa.array(np.zeros(n, dtype=bool)),
        ],
        schema=MEMBER_SCHEMA,
    )


def split_by(table: pa.Table, part: np.ndarray, num_parts: int) -> list[pa.Table]:
    """Hash-partition rows: row i goes to part[i] (stable order within a part)."""
    order = np.argsort(part, kind="stable")
    counts = np.bincount(part, minlength=num_parts)
    t = table.take(pa.array(order))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [t.slice(int(bounds[i]), int(counts[i])) for i in range(num_parts)]


def split_by_decision(table: pa.Table, removed: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(kept, rejected) rows of `table` under a dedup decision, each in table order.

    `removed` has an `id` column and the decision columns the caller wants on a rejected row (for
    example reason, cluster_id, kept_id): a row whose id is in `removed` is rejected and gets those
    columns appended, in `removed`'s order; every other row is kept as it is.
    """
    idx = pc.index_in(table["id"], value_set=removed["id"])
    gone = pc.is_valid(idx)
    kept = table.filter(pc.invert(gone))
    rejected = table.filter(gone)
    decision = removed.drop_columns(["id"]).take(idx.filter(gone))
    for name in decision.column_names:
        rejected = rejected.append_column(name, decision[name])
    return kept, rejected


def write_parquet_atomic(table: pa.Table, path: str | os.PathLike) -> None:
    """A zstd Parquet file that readers see whole or not at all (`kit.files.atomic_write`)."""
    with atomic_write(path) as f:
        pq.write_table(table, f, compression="zstd")
