"""`read_records`: one entry point for every source format, used by the ingest stage per file.

Format comes from the file name (compression suffixes ignored; compression itself is sniffed
from magic bytes), or from `fmt`:

| fmt | names |
|---|---|
| warc | .warc, .warc.gz/.zst (also WAT: no documents) |
| wet | .wet, .warc.wet.gz (same reader: WET is WARC with `conversion` records) |
| arc | .arc, .arc.gz |
| jsonl | .jsonl, .ndjson, .json (+ .gz/.zst): one JSON object per line |
| parquet | .parquet |
| text | .txt, .text (+ .gz/.zst): one document per file |
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from ingest.extract import ExtractSettings
from ingest.jsonl import read_jsonl
from ingest.parquet import read_parquet
from ingest.records import BadRecord, Record, describe
from ingest.text import read_text
from ingest.tracked import TrackedFile
from ingest.warc import read_warc
from kit.files import JSONL_SUFFIXES, PARQUET_SUFFIXES, split_compression

FORMATS = ("warc", "wet", "arc", "jsonl", "parquet", "text")
# Web archives and plain text are ingest's own; Parquet and JSONL names are every library's (`kit.files`).
_SUFFIXES = {
    ".warc": "warc",
    ".wat": "warc",
    ".wet": "wet",
    ".arc": "arc",
    ".txt": "text",
    ".text": "text",
    **dict.fromkeys(JSONL_SUFFIXES, "jsonl"),
    **dict.fromkeys(PARQUET_SUFFIXES, "parquet"),
}


def detect_format(name: str) -> str | None:
    """Format from a file name or URI (`None` if unknown); a compression suffix is looked through."""
    base = PurePosixPath(urlparse(name).path if "://" in name else name).name.lower()
    base, _ = split_compression(base)
    return _SUFFIXES.get(PurePosixPath(base).suffix)


def read_records(
    path: Path,
    source_uri: str,
    fmt: str | None = None,
    *,
    extract_html: bool = True,
    max_doc_bytes: int = 50_000_000,
    text_field: str = "text",
    extract_settings: ExtractSettings | None = None,
    batch_size: int = 1024,
) -> Iterator[Record | BadRecord]:
    """Stream the documents of one local file (from `fetch`) in a stable order.

    `source_uri` is the file's original URI (used to detect the format when the local name does
    not tell). Yields `Record`s and `BadRecord`s with consecutive positions 0, 1, 2, ...; it never
    raises on bad *content*, only on an unknown format (ValueError) or an unopenable path (OSError).
    A source that could not be read to its end (or changed while read) ends with a `BadRecord`
    whose `bytes_unread` is set.
    """
    path = Path(path)
    fmt = fmt or detect_format(path.name) or detect_format(source_uri)
    if fmt is None:
        raise ValueError(f"cannot tell the format of {source_uri!r}; set fmt to one of {FORMATS}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    source = TrackedFile(path)
    if fmt == "jsonl":
        records = read_jsonl(source, text_field=text_field, max_doc_bytes=max_doc_bytes)
    elif fmt == "parquet":
        records = read_parquet(
            source, text_field=text_field, max_doc_bytes=max_doc_bytes, batch_size=batch_size
        )
    elif fmt == "text":
        records = read_text(source, max_doc_bytes=max_doc_bytes)
    else:
        records = read_warc(
            source, extract_html=extract_html, max_doc_bytes=max_doc_bytes, settings=extract_settings
        )
    return _accounted(source, records)


def _accounted(source: TrackedFile, records: Iterator[Record | BadRecord]) -> Iterator[Record | BadRecord]:
    """`records`, plus one closing `BadRecord` when the source was not read whole.

    Readers turn per-record errors into `BadRecord`s themselves; an error that escapes a reader
    ends it, so the rest of the file is quarantined as one record that says how many bytes were
    never read. After a complete read, a file that changed meanwhile is quarantined the same way.
    """
    position = 0
    with source:
        try:
            for rec in records:
                yield rec
                position = rec.position + 1
                if isinstance(rec, BadRecord) and rec.bytes_unread is not None:
                    return
        except Exception as e:  # any reader failure: account for the rest of the file, never raise
            yield source.stopped(position, f"reading stopped: {describe(e)}")
            return
        changed = source.changed(position)
        if changed is not None:
            yield changed
