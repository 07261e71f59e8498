"""Input chunking: Parquet row ranges and JSONL line ranges, read independently by tasks.

Which files a list of inputs names is `kit.files.expand_inputs`, the rule every corpus reader shares.
Chunks are planned in the driver from metadata only (Parquet footers, a newline scan for JSONL), so
the document order (input-path order, then row order) never depends on how many tasks run.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from kit.files import document_format, split_compression
from kit.jsonl import BadLine, parse_object_line, text_problem, valid_unicode
from kit.parquet import open_parquet
from tokenization.errors import TokenizeInputError

_SCAN_BLOCK = 16 * 2**20
_HEAD_BYTES = 1 << 20  # how much of a JSONL file `check_input_file` reads to find the text field


@dataclass(frozen=True)
class Chunk:
    """A contiguous range of documents of one input file: rows [start, stop) or bytes [start, stop)."""

    index: int
    path: str
    kind: str  # "parquet" or "jsonl"
    start: int
    stop: int
    first_row: int  # position of the first document in its file (for derived ids)


def file_kind(path: str) -> str:
    """The format of a tokenize input; compressed JSONL is refused (chunks are byte ranges of the file)."""
    kind = document_format(path)
    plain, codec = split_compression(path)
    if kind is not None and codec is not None:
        raise TokenizeInputError(
            f"unsupported tokenize input {path!r}: it is {codec}-compressed and tokenize reads plain .jsonl "
            f"or .parquet — decompress it first (e.g. {'zcat' if codec == 'gzip' else 'zstdcat'} {path} > {plain})"
        )
    if kind is None:
        raise TokenizeInputError(
            f"unsupported tokenize input {path!r}: tokenize reads .parquet and .jsonl files (or a run "
            "directory) — give those"
        )
    return kind


def parquet_file(path: str) -> pq.ParquetFile:
    """A Parquet input opened at its footer; a file that is not Parquet is a TokenizeInputError."""
    return open_parquet(path, TokenizeInputError)


def check_input_file(path: str, text_column: str = "text") -> None:
    """Refuse, before any work, an input tokenize cannot read: an unsupported format, a broken Parquet
    file, or documents without the text field (a TokenizeInputError naming the fields found)."""
    if file_kind(path) == "parquet":
        names = parquet_file(path).schema_arrow.names
    else:
        names = _jsonl_head_fields(path, text_column)
    if names is not None and text_column not in names:
        raise TokenizeInputError(
            f"{path}: documents need a {text_column!r} field (found {names}) — rename the field, or set "
            "text_column in the tokenize options"
        )


def _jsonl_head_fields(path: str, text_column: str) -> list[str] | None:
    """The fields of the JSON objects in the first MiB of a JSONL file; None when one has `text_column`
    or there is no object to judge (malformed lines are counted later, not here)."""
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    lines = head.split(b"\n")
    if len(head) == _HEAD_BYTES:
        lines.pop()  # cut short by the read
    fields: dict[str, None] = {}
    for line in lines:
        rec = parse_object_line(line.strip()) if line.strip() else None
        if isinstance(rec, dict):
            if text_column in rec:
                return None
            fields.update(dict.fromkeys(rec))
    return sorted(fields) if fields else None


def _jsonl_line_starts(path: str, every: int) -> tuple[list[int], int]:
    """Byte offsets of lines 0, every, 2*every, ... and the total number of lines (one streaming scan)."""
    starts = [0]
    n_lines = 0
    offset = 0
    last_byte = b"\n"
    with open(path, "rb") as f:
        while True:
            block = f.read(_SCAN_BLOCK)
            if not block:
                break
            nl = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            # line number (0-based) that starts right after each newline = n_lines + i + 1
            line_no = n_lines + np.arange(1, len(nl) + 1)
            pick = nl[line_no % every == 0] + offset + 1
            starts.extend(int(x) for x in pick)
            n_lines += len(nl)
            offset += len(block)
            last_byte = block[-1:]
    size = offset
    if last_byte != b"\n":
        n_lines += 1  # final line without a newline
    starts = [s for s in starts if s < size]
    return starts, n_lines


def count_documents(path: str) -> int:
    """Rows of a Parquet file (footer) or lines of a JSONL file (newline scan)."""
    if file_kind(path) == "parquet":
        return parquet_file(path).metadata.num_rows
    return _jsonl_line_starts(path, every=2**62)[1]


def _parquet_ranges(path: str, docs_per_task: int) -> list[tuple[int, int]]:
    """Row ranges of at most ``docs_per_task`` rows that follow row-group boundaries: whole groups are
    merged while they fit, a larger group is cut. A range straddling groups would make two tasks
    read and decompress the same group; boundaries never change the document order."""
    md = parquet_file(path).metadata
    ranges: list[tuple[int, int]] = []
    start = row = 0
    for g in range(md.num_row_groups):
        n = md.row_group(g).num_rows
        if row > start and row + n - start > docs_per_task:
            ranges.append((start, row))
            start = row
        if n > docs_per_task:
            ranges.extend((a, min(row + n, a + docs_per_task)) for a in range(row, row + n, docs_per_task))
            start = row + n
        row += n
    if row > start:
        ranges.append((start, row))
    return ranges


def plan_chunks(files: list[str], docs_per_task: int) -> list[Chunk]:
    """Split every file into ranges of about ``docs_per_task`` documents, in input order."""
    chunks: list[Chunk] = []
    for path in files:
        if file_kind(path) == "parquet":
            for a, b in _parquet_ranges(path, docs_per_task):
                chunks.append(Chunk(len(chunks), path, "parquet", a, b, a))
        else:
            starts, _ = _jsonl_line_starts(path, every=docs_per_task)
            size = os.path.getsize(path)
            bounds = [*starts, size]
            for i in range(len(starts)):
                chunks.append(Chunk(len(chunks), path, "jsonl", bounds[i], bounds[i + 1], i * docs_per_task))
    return chunks


def auto_docs_per_task(total_docs: int, workers: int) -> int:
    """About four tasks per worker for load balance, within [64, 2000] documents (bounds task memory)."""
    return int(min(2_000, max(64, math.ceil(total_docs / max(1, 4 * workers)))))


def _derived_id(path: str, position: int) -> str:
    return f"{Path(path).name}#{position}"


def read_chunk(chunk: Chunk, id_column: str, text_column: str) -> tuple[list[str], list[str | None]]:
    """(ids, texts) of a chunk; a missing id column gets ``<file name>#<position>`` ids. Malformed
    JSONL lines are left out (`read_chunk_checked` says which)."""
    ids, texts, _ = read_chunk_checked(chunk, id_column, text_column)
    return ids, texts


def read_chunk_checked(
    chunk: Chunk, id_column: str, text_column: str
) -> tuple[list[str], list[str | None], list[BadLine]]:
    """(ids, texts, malformed lines) of a chunk; a missing id column gets ``<file name>#<position>`` ids.

    A JSONL line that is not a JSON object (`kit.jsonl.parse_object_line`), or whose text is neither
    a string nor null, is not a document: it is returned with its line number, and reading goes on.
    """
    if chunk.kind == "parquet":
        pf = pq.ParquetFile(chunk.path)
        names = pf.schema_arrow.names
        if text_column not in names:
            raise ValueError(f"{chunk.path}: no {text_column!r} column (columns: {names})")
        cols = [text_column] + ([id_column] if id_column in names else [])
        md = pf.metadata
        groups, first, row = [], None, 0
        for g in range(md.num_row_groups):
            g_rows = md.row_group(g).num_rows
            if row + g_rows > chunk.start and row < chunk.stop:
                groups.append(g)
                first = row if first is None else first
            row += g_rows
        table = pf.read_row_groups(groups, columns=cols)
        table = table.slice(chunk.start - (first or 0), chunk.stop - chunk.start)
        texts = table.column(text_column).to_pylist()
        if id_column in names:
            ids = [str(x) for x in table.column(id_column).to_pylist()]
        else:
            ids = [_derived_id(chunk.path, chunk.first_row + i) for i in range(len(texts))]
        return ids, texts, []
    with open(chunk.path, "rb") as f:
        f.seek(chunk.start)
        data = f.read(chunk.stop - chunk.start)
    ids, texts, bad = [], [], []
    for i, line in enumerate(data.split(b"\n")):
        if not line.strip():
            continue
        rec = parse_object_line(line.strip())
        if isinstance(rec, str):
            bad.append(BadLine(chunk.path, chunk.first_row + i + 1, rec))
            continue
        reason = text_problem(rec, text_column, required=False)
        if reason is not None:
            bad.append(BadLine(chunk.path, chunk.first_row + i + 1, reason))
            continue
        text = rec.get(text_column)
        texts.append(valid_unicode(text))
        rid = rec.get(id_column)
        ids.append(str(rid) if rid is not None else _derived_id(chunk.path, chunk.first_row + i))
    return ids, texts, bad
