"""Expand a Common Crawl source (crawl + kind + slice) into file URIs via the crawl's paths index.

`{crawl: "CC-MAIN-2024-10", kind: "wet", files: "0:10"}` reads
`<base_url>/crawl-data/CC-MAIN-2024-10/wet.paths.gz` (fetched through the cache, so a rerun does
not download it again) and returns `<base_url>/<path>` for lines 0..9 of it.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from ingest.fetch import fetch

KINDS = ("warc", "wet", "wat", "robotstxt", "non200responses")
DEFAULT_BASE_URL = "https://data.commoncrawl.org"
_CRAWL = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_SLICE = re.compile(r"\s*(-?\d+)?\s*(?::\s*(-?\d+)?\s*)?")


def parse_slice(files: str | int) -> slice:
    """'0:10', '5:', ':3', '-2:' or '7' (a single file) → a Python slice."""
    if isinstance(files, int):
        return slice(files, files + 1 if files != -1 else None)
    m = _SLICE.fullmatch(files)
    if not m or not files.strip():
        raise ValueError(f"files must look like 'START:STOP' or 'INDEX', got {files!r}")
    start, stop = (int(g) if g is not None else None for g in m.groups())
    if ":" not in files:
        if start is None:
            raise ValueError(f"files must look like 'START:STOP' or 'INDEX', got {files!r}")
        return slice(start, start + 1 if start != -1 else None)
    return slice(start, stop)


def paths_index_uri(crawl: str, kind: str, base_url: str = DEFAULT_BASE_URL) -> str:
    """URI of the crawl's `<kind>.paths.gz` listing."""
    if not _CRAWL.fullmatch(crawl):
        raise ValueError(f"crawl must look like CC-MAIN-YYYY-WW, got {crawl!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return f"{base_url.rstrip('/')}/crawl-data/{crawl}/{kind}.paths.gz"


def commoncrawl_uris(
    crawl: str,
    kind: str = "wet",
    files: str | int = "0:1",
    *,
    base_url: str = DEFAULT_BASE_URL,
    cache_dir: Path,
    **fetch_kwargs,
) -> list[str]:
    """File URIs of `files` (a slice of the paths index) of `crawl`'s `kind` files, in index order."""
    index = fetch(paths_index_uri(crawl, kind, base_url), cache_dir, **fetch_kwargs)
    with gzip.open(index, "rt", encoding="utf-8") as f:
        paths = [line.strip() for line in f if line.strip()]
    base = base_url.rstrip("/")
    return [f"{base}/{p.lstrip('/')}" for p in paths[parse_slice(files)]]
