"""Common Crawl sources against a local server laid out like data.commoncrawl.org."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from ingest.commoncrawl import commoncrawl_uris, parse_slice, paths_index_uri
from ingest.fetch import FetchError, fetch
from ingest.readers import read_records
from ingest.records import Record
from tests.http_fixtures import serve_directory

CRAWL = "CC-MAIN-2024-10"
SEGMENT = f"crawl-data/{CRAWL}/segments/1707947473347.0"
WARCS = [
    "cc_whirlwind.warc.gz",
    "resiliparse_CC-MAIN-2020-34_excerpt.warc.gz",
    "dolma_sample-0000.warc.gz",
    "warcio_example.warc.gz",
]


@pytest.fixture()
def cc_site(tmp_path: Path, shared_data: Path) -> tuple[Path, dict[str, Path]]:
    """warc.paths.gz and wet.paths.gz indexes over the real samples; returns (root, path → original)."""
    root, originals = tmp_path / "cc", {}
    for kind, names in (("warc", WARCS), ("wet", ["cc_whirlwind.warc.wet.gz"])):
        lines = []
        for i, name in enumerate(names):
            rel = f"{SEGMENT}/{kind}/{CRAWL}-20240221-{i:05d}.{'warc.wet' if kind == 'wet' else 'warc'}.gz"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(shared_data / "web" / "warc" / name, root / rel)
            originals[rel] = shared_data / "web" / "warc" / name
            lines.append(rel)
        (root / f"crawl-data/{CRAWL}/{kind}.paths.gz").write_bytes(
            gzip.compress("\n".join(lines).encode() + b"\n")
        )
    return root, originals


def test_parse_slice() -> None:
    assert parse_slice("0:10") == slice(0, 10)
    assert parse_slice("3") == slice(3, 4) and parse_slice(3) == slice(3, 4)
    assert parse_slice("5:") == slice(5, None) and parse_slice(":2") == slice(None, 2)
    for bad in ("", "a:b", "1:2:3", "one"):
        with pytest.raises(ValueError):
            parse_slice(bad)


def test_index_uri_validation() -> None:
    assert paths_index_uri(CRAWL, "wet", "https://data.commoncrawl.org/") == (
        f"https://data.commoncrawl.org/crawl-data/{CRAWL}/wet.paths.gz"
    )
    with pytest.raises(ValueError, match="CC-MAIN"):
        paths_index_uri("2024-10", "wet")
    with pytest.raises(ValueError, match="kind"):
        paths_index_uri(CRAWL, "html")


def test_slice_of_warc_files_downloads_and_reads(cc_site, tmp_path: Path) -> None:
    root, originals = cc_site
    cache = tmp_path / "cache"
    with serve_directory(root) as server:
        uris = commoncrawl_uris(CRAWL, "warc", "1:3", base_url=server.url, cache_dir=cache, progress=False)
        rels = [u.removeprefix(server.url + "/") for u in uris]
        assert [originals[r].name for r in rels] == WARCS[1:3]
        for uri, rel in zip(uris, rels, strict=True):
            got = list(read_records(fetch(uri, cache, progress=False), uri))
            want = list(read_records(originals[rel], str(originals[rel])))
            assert got == want and len(got) > 0
        # rerun: index and files come from the cache, no request reaches the server
        before = len(server.requests)
        again = commoncrawl_uris(CRAWL, "warc", "1:3", base_url=server.url, cache_dir=cache, progress=False)
        assert again == uris
        for uri in again:
            fetch(uri, cache, progress=False)
        assert len(server.requests) == before
    assert [r.path for r in server.requests] == [f"crawl-data/{CRAWL}/warc.paths.gz", *rels]


def test_wet_kind_reads_conversion_records(cc_site, tmp_path: Path) -> None:
    root, _ = cc_site
    with serve_directory(root) as server:
        (uri,) = commoncrawl_uris(
            CRAWL, "wet", "0:10", base_url=server.url, cache_dir=tmp_path / "c", progress=False
        )
        (rec,) = read_records(fetch(uri, tmp_path / "c", progress=False), uri)
    assert uri.endswith(".warc.wet.gz") and isinstance(rec, Record)
    assert rec.meta["warc_type"] == "conversion" and rec.url == "https://an.wikipedia.org/wiki/Escopete"


def test_unknown_crawl_is_a_fetch_error(cc_site, tmp_path: Path) -> None:
    root, _ = cc_site
    with serve_directory(root) as server, pytest.raises(FetchError) as err:
        commoncrawl_uris(
            "CC-MAIN-1999-01", "wet", "0:1", base_url=server.url, cache_dir=tmp_path, progress=False
        )
    assert err.value.status == 404 and "CC-MAIN-1999-01/wet.paths.gz" in str(err.value)
