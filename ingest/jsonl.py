"""JSON Lines reader (plain, gzip, zstd), one document per line, bounded by one line.

A line that is not valid UTF-8, not valid JSON (nested too deeply for the parser included), not
an object, or lacks a string `text_field` becomes a `BadRecord` naming the line number, and
reading goes on with the next line: JSON requires UTF-8, so such a line signals corruption
rather than a charset to guess. Blank lines are not documents.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from ingest.records import BadRecord, Record, describe, excerpt
from ingest.tracked import TrackedFile
from kit.jsonl import parse_object_line, text_problem

_CHUNK = 1 << 16


def _skip_line(stream) -> int:
    """Consume the rest of an over-long line; returns its length without the newline."""
    n = 0
    while part := stream.readline(_CHUNK):
        if part.endswith(b"\n"):
            return n + len(part) - 1
        n += len(part)
    return n


def _url(obj: dict) -> str | None:
    url = obj.get("url")
    if not isinstance(url, str):
        meta = obj.get("metadata")
        url = meta.get("url") if isinstance(meta, dict) else None
    return url if isinstance(url, str) and url else None


def _parse(line: bytes, line_no: int, position: int, text_field: str) -> Record | BadRecord:
    obj = parse_object_line(line)
    if isinstance(obj, str):
        return BadRecord(position, f"line {line_no}: {obj}", excerpt(line))
    problem = text_problem(obj, text_field)
    if problem is not None:
        return BadRecord(position, f"line {line_no}: {problem}", excerpt(line))
    text = obj[text_field]
    meta: dict = {"line": line_no}
    if "id" in obj and isinstance(obj["id"], str | int):
        meta["orig_id"] = str(obj["id"])
    return Record(position, text, _url(obj), meta)


def read_jsonl(
    source: TrackedFile, *, text_field: str = "text", max_doc_bytes: int = 50_000_000
) -> Iterator[Record | BadRecord]:
    """Documents of a JSONL file; truncation ends with a `BadRecord` after the readable lines."""
    position = line_no = 0
    with source.stream() as stream:
        try:
            while line := stream.readline(max_doc_bytes + 1):
                line_no += 1
                if len(line) > max_doc_bytes and not line.endswith(b"\n"):
                    size = len(line) + _skip_line(stream)
                    yield BadRecord(
                        position,
                        f"document too large: {size} bytes (line {line_no}, limit {max_doc_bytes})",
                        excerpt(line),
                    )
                    position += 1
                    continue
                if not line.strip():
                    continue
                yield _parse(line.strip(), line_no, position, text_field)
                position += 1
        except (EOFError, zlib.error, OSError) as e:
            yield source.stopped(
                position,
                f"input truncated after line {line_no}: {describe(e)}",
                truncated=isinstance(e, EOFError),
            )
