"""Ingest: fetch sources into a local cache, then stream their documents.

The ingest stage calls, per source file (one Ray task each):

    path = fetch(uri, cache_dir, sha256=...)
    for rec in read_records(path, uri):   # Record | BadRecord, positions 0, 1, 2, ...
        ...

expands globs with `expand_uri(pattern)` (sorted, so ids do not depend on listing order), and
Common Crawl sources with `commoncrawl_uris(crawl, kind, files, cache_dir=...)`.
"""

from ingest.commoncrawl import commoncrawl_uris, paths_index_uri
from ingest.extract import ExtractSettings, decode_html, extract_main_text
from ingest.fetch import FetchError, cache_path, fetch
from ingest.readers import FORMATS, detect_format, read_records
from ingest.records import BadRecord, Record
from ingest.sources import expand_uri

__all__ = [
    "FORMATS",
    "BadRecord",
    "ExtractSettings",
    "FetchError",
    "Record",
    "cache_path",
    "commoncrawl_uris",
    "decode_html",
    "detect_format",
    "expand_uri",
    "extract_main_text",
    "fetch",
    "paths_index_uri",
    "read_records",
]
