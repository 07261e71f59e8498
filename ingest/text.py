"""Plain-text reader: the whole file (plain, gzip or zstd) is one document.

Invalid UTF-8 bytes become U+FFFD (plain text has no declared charset and a replaced byte is a
smaller loss than a dropped document). An empty file has no document.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from ingest.records import BadRecord, Record, describe, excerpt
from ingest.tracked import TrackedFile

_CHUNK = 1 << 16


def read_text(source: TrackedFile, *, max_doc_bytes: int = 50_000_000) -> Iterator[Record | BadRecord]:
    """Zero or one document; truncated/corrupt compressed input or an oversize file → `BadRecord`."""
    with source.stream() as stream:
        try:
            body = stream.read(max_doc_bytes + 1)
            if len(body) > max_doc_bytes:
                size = len(body)
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                yield BadRecord(0, f"document too large: {size} bytes (limit {max_doc_bytes})", excerpt(body))
                return
        except (EOFError, zlib.error, OSError) as e:
            yield source.stopped(0, f"unreadable input: {describe(e)}", truncated=isinstance(e, EOFError))
            return
    if body:
        yield Record(0, body.decode("utf-8", errors="replace"), None, {})
