"""WARC / WET / ARC reader (warcio), with truncation detection and bounded memory.

Document records, in file order, each taking the next `position`:
* `response` whose payload is HTML (`text/html`, `application/xhtml+xml`; type taken from
  `WARC-Identified-Payload-Type`, else the HTTP Content-Type, else sniffed from the first bytes)
  → main text extracted with trafilatura;
* `conversion` (Common Crawl WET) → text as-is (UTF-8, invalid bytes replaced);
* `resource` with `text/html` (extracted) or `text/plain` (as-is), when its target URI is a web
  address (http, https, ftp, file): wget's `metadata://` logs are crawler bookkeeping.
Not documents, skipped without a position: `warcinfo`, `request`, `metadata`, `revisit`, and
responses whose payload is not HTML (images, CSS, JS, PDF, robots.txt ...). A cut or corrupt file
yields everything readable, then one `BadRecord` at the position where reading failed.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.limitreader import LimitReader
from warcio.recordloader import ArcWarcRecord

from pipeline.ingest.compression import open_binary
from pipeline.ingest.extract import (
    ExtractionTimeout,
    ExtractSettings,
    charset_from_content_type,
    decode_html,
    extract_main_text,
)
from pipeline.ingest.records import BadRecord, Record, excerpt

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_DOC_SCHEMES = frozenset({"http", "https", "ftp", "file"})
_CHUNK = 1 << 16
_SNIFF = 1024


def _mime(value: str | None) -> str | None:
    return value.split(";", 1)[0].strip().lower() or None if value else None


def _strip_uri(uri: str | None) -> str | None:
    """WARC 1.1 writers (wget) wrap the target URI in angle brackets."""
    if not uri:
        return None
    uri = uri.strip()
    if uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1].strip()
    return uri or None


def _looks_like_html(head: bytes) -> bool:
    head = head[:_SNIFF].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head


def _classify(rec: ArcWarcRecord) -> tuple[str | None, str | None]:
    """(kind, mime): kind 'html', 'text', 'sniff' (decide from bytes) or None (not a document)."""
    rtype = rec.rec_type
    if rtype == "conversion":
        return "text", "text/plain"
    if rtype == "resource":
        uri = _strip_uri(rec.rec_headers.get_header("WARC-Target-URI")) or ""
        if uri.partition(":")[0].lower() not in _DOC_SCHEMES:
            return None, None  # crawler bookkeeping (metadata://, dns:), not a web document
        mime = _mime(rec.rec_headers.get_header("Content-Type"))
        return ("html" if mime in HTML_TYPES else "text" if mime == "text/plain" else None), mime
    if rtype != "response":
        return None, None
    mime = _mime(rec.rec_headers.get_header("WARC-Identified-Payload-Type"))
    if mime is None and rec.http_headers is not None:
        mime = _mime(rec.http_headers.get_header("Content-Type"))
    if mime is None:
        return "sniff", None
    return ("html" if mime in HTML_TYPES else None), mime


def _drain(stream) -> int:
    """Read a stream to its end in bounded chunks; returns the byte count."""
    n = 0
    while chunk := stream.read(_CHUNK):
        n += len(chunk)
    return n


def _short_by(rec: ArcWarcRecord) -> int:
    """Bytes missing from the record after its raw stream was read to the end (0 if complete)."""
    raw = rec.raw_stream
    return raw.limit if isinstance(raw, LimitReader) else 0


def _meta(rec: ArcWarcRecord, mime: str | None) -> dict:
    h = rec.rec_headers
    meta: dict = {"warc_type": rec.rec_type, "content_type": mime}
    for key, name in (
        ("warc_record_id", "WARC-Record-ID"),
        ("warc_date", "WARC-Date"),
        ("lang", "WARC-Identified-Content-Language"),
        ("warc_truncated", "WARC-Truncated"),  # the crawler cut the payload (e.g. CC at 1 MiB)
    ):
        value = h.get_header(name)
        if value:
            meta[key] = value
    if rec.http_headers is not None:
        code = rec.http_headers.get_statuscode()
        if code and code.isdigit():
            meta["http_status"] = int(code)
    return meta


def _document(
    rec: ArcWarcRecord,
    kind: str,
    mime: str | None,
    position: int,
    extract_html: bool,
    max_doc_bytes: int,
    settings: ExtractSettings,
) -> Record | BadRecord | None:
    """Read one candidate record; None when sniffing shows it is not a document after all."""
    stream = rec.content_stream()
    body = stream.read(max_doc_bytes + 1)
    if len(body) > max_doc_bytes:
        size = len(body) + _drain(stream)
        _drain(rec.raw_stream)
        return BadRecord(position, f"document too large: {size} bytes (limit {max_doc_bytes})", excerpt(body))
    _drain(rec.raw_stream)
    missing = _short_by(rec)
    if missing:
        return BadRecord(
            position,
            f"record truncated: input ended {missing} bytes before its declared length",
            excerpt(body),
        )
    if kind == "sniff":
        if not _looks_like_html(body):
            return None
        kind, mime = "html", "text/html"
    url = _strip_uri(rec.rec_headers.get_header("WARC-Target-URI"))
    meta = _meta(rec, mime)
    if kind == "text":
        return Record(position, body.decode("utf-8", errors="replace"), url, meta)
    declared = rec.http_headers.get_header("Content-Type") if rec.http_headers is not None else None
    if declared is None and rec.rec_type == "resource":
        declared = rec.rec_headers.get_header("Content-Type")
    html = decode_html(body, charset_from_content_type(declared))
    if not extract_html:
        return Record(position, html, url, meta)
    try:
        text = extract_main_text(html, settings)
    except ExtractionTimeout as e:
        return BadRecord(position, f"html extraction failed: {e}", excerpt(body))
    except Exception as e:  # trafilatura/lxml on hostile markup: quarantine, never crash the task
        return BadRecord(position, f"html extraction failed: {type(e).__name__}: {e}", excerpt(body))
    return Record(position, text, url, meta)


def read_warc(
    path: Path,
    *,
    extract_html: bool = True,
    max_doc_bytes: int = 50_000_000,
    settings: ExtractSettings | None = None,
) -> Iterator[Record | BadRecord]:
    """Documents of a WARC/WET/ARC file (plain, gzip or zstd), see the module doc."""
    settings = settings or ExtractSettings()
    position = 0
    with open_binary(path) as stream:
        records = ArchiveIterator(stream, arc2warc=True)
        try:
            for rec in records:
                kind, mime = _classify(rec)
                if kind is None:
                    _drain(rec.raw_stream)
                    missing = _short_by(rec)
                    if missing:
                        yield BadRecord(
                            position,
                            f"input truncated inside a {rec.rec_type} record ({missing} bytes missing)",
                        )
                        return
                    continue
                doc = _document(rec, kind, mime, position, extract_html, max_doc_bytes, settings)
                if doc is None:
                    continue
                yield doc
                position += 1
                if isinstance(doc, BadRecord) and doc.error.startswith("record truncated"):
                    return
        except (EOFError, zlib.error, ArchiveLoadFailed, ValueError, OSError) as e:
            yield BadRecord(position, f"unreadable input after {position} documents: {type(e).__name__}: {e}")
