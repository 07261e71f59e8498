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
yields everything readable, then one `BadRecord` at the position where reading failed, saying how
much of the file was not read. A record that fails on its own (a charset Python cannot decode
with, say) is quarantined and reading goes on.

Header lines are read in time linear in their length (warcio's own readline is quadratic) and
bounded: a line over `MAX_HEADER_LINE` bytes, a header block over `MAX_HEADER_BLOCK` bytes or
`MAX_HEADER_LINES` lines, or a run of blank lines as long, ends the file as unreadable instead of
eating time and memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.limitreader import LimitReader
from warcio.recordloader import ArcWarcRecord

from ingest.extract import (
    ExtractionTimeout,
    ExtractSettings,
    charset_from_content_type,
    decode_html,
    extract_main_text,
)
from ingest.records import BadRecord, Record, describe, excerpt
from ingest.tracked import TrackedFile

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_DOC_SCHEMES = frozenset({"http", "https", "ftp", "file"})
_CHUNK = 1 << 16
_SNIFF = 1024
MAX_HEADER_LINE = 256 * 1024
MAX_HEADER_BLOCK = 1024 * 1024
MAX_HEADER_LINES = 1000  # warcio joins continuation lines with +=: many lines cost quadratic time


class HeaderTooLarge(ValueError):
    """A WARC/HTTP header line or block beyond the caps: not a WARC file, or a hostile one."""


class _BoundedLineReader(DecompressingBufferedReader):
    """warcio's reader with a linear, capped `readline` (warcio appends bytes to bytes per block).

    Lines are read only for headers and the blank lines between records (bodies go through
    `read`), so caps on lines and on runs of header or blank lines bound only headers.
    """

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._run = (False, 0, 0)  # (blank?, bytes, lines) of the current run of header/blank lines

    def read(self, length=None) -> bytes:
        self._run = (False, 0, 0)
        return super().read(length)

    def readline(self, length=None) -> bytes:
        limit = MAX_HEADER_LINE + 1 if not length or length < 0 else min(length, MAX_HEADER_LINE + 1)
        parts, size = [], 0
        while size < limit:
            self._fillbuff()
            if self.empty():
                break
            part = self.buff.readline(limit - size)
            parts.append(part)
            size += len(part)
            if part.endswith(b"\n"):
                break
        line = b"".join(parts)
        self._count(line)
        return line

    def _count(self, line: bytes) -> None:
        if len(line) > MAX_HEADER_LINE:
            raise HeaderTooLarge(f"header line longer than {MAX_HEADER_LINE:,} bytes")
        blank = not line.strip()
        was_blank, size, lines = self._run
        if blank != was_blank:
            size, lines = 0, 0
        self._run = (blank, size + len(line), lines + 1)
        if self._run[1] > MAX_HEADER_BLOCK or self._run[2] > MAX_HEADER_LINES:
            what = "blank lines" if blank else "header block"
            raise HeaderTooLarge(f"{what} over {MAX_HEADER_BLOCK:,} bytes or {MAX_HEADER_LINES:,} lines")


class _BoundedArchiveIterator(ArchiveIterator):
    """warcio's iterator reading through `_BoundedLineReader` (the stream is already decompressed)."""

    def __init__(self, stream) -> None:
        super().__init__(stream, arc2warc=True)
        self.reader = _BoundedLineReader(self.fh)


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
            f"{_TRUNCATED}: input ended {missing} bytes before its declared length",
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
    source: TrackedFile,
    *,
    extract_html: bool = True,
    max_doc_bytes: int = 50_000_000,
    settings: ExtractSettings | None = None,
) -> Iterator[Record | BadRecord]:
    """Documents of a WARC/WET/ARC file (plain, gzip or zstd), see the module doc."""
    settings = settings or ExtractSettings()
    position = 0
    with source.stream() as stream:
        try:
            for rec in _BoundedArchiveIterator(stream):
                kind, mime = _classify(rec)
                if kind is None:
                    _drain(rec.raw_stream)
                    missing = _short_by(rec)
                    if missing:
                        yield source.stopped(
                            position,
                            f"input truncated inside a {rec.rec_type} record ({missing} bytes missing)",
                            truncated=True,
                        )
                        return
                    continue
                doc = _one_document(rec, kind, mime, position, extract_html, max_doc_bytes, settings)
                if doc is None:
                    continue
                if isinstance(doc, BadRecord) and doc.error.startswith(_TRUNCATED):
                    yield source.stopped(position, doc.error, doc.raw_excerpt, truncated=True)
                    return
                yield doc
                position += 1
        except (EOFError, zlib.error, ArchiveLoadFailed, ValueError, OSError) as e:
            yield source.stopped(
                position,
                f"unreadable input after {position} documents: {describe(e)}",
                truncated=isinstance(e, EOFError),
            )


_TRUNCATED = "record truncated"
_STREAM_ERRORS = (EOFError, zlib.error, OSError, HeaderTooLarge)


def _one_document(
    rec: ArcWarcRecord,
    kind: str,
    mime: str | None,
    position: int,
    extract_html: bool,
    max_doc_bytes: int,
    settings: ExtractSettings,
) -> Record | BadRecord | None:
    """`_document`, with a failure of this record alone quarantined (stream failures propagate)."""
    try:
        return _document(rec, kind, mime, position, extract_html, max_doc_bytes, settings)
    except _STREAM_ERRORS:
        raise
    except Exception as e:  # hostile headers or encodings of one record: the next one may be fine
        return BadRecord(position, f"unreadable record: {describe(e)}")
