"""expand_uri(): globs become sorted file lists; plain URIs pass through."""

from __future__ import annotations

from pathlib import Path

import fsspec

from ingest.sources import expand_uri


def test_local_and_file_globs_are_sorted_and_skip_dirs(shared_data: Path) -> None:
    warc = shared_data / "web" / "warc"
    got = expand_uri(str(warc / "*.warc.gz"))
    assert got == sorted(str(p) for p in warc.glob("*.warc.gz")) and len(got) >= 8
    assert expand_uri((shared_data / "web" / "dolma_fixtures").as_uri() + "/*.jsonl") == [
        (shared_data / "web" / "dolma_fixtures" / n).as_uri()
        for n in ("cc_en_head-0091.jsonl", "cc_en_head-0174.jsonl")
    ]
    assert expand_uri(str(shared_data / "web" / "*")) == [str(shared_data / "web" / "SOURCES.md")]  # no dirs


def test_plain_and_http_uris_pass_through() -> None:
    assert expand_uri("/data/a.jsonl") == ["/data/a.jsonl"]
    assert expand_uri("https://host/x*.gz") == ["https://host/x*.gz"]


def test_fsspec_glob() -> None:
    fs = fsspec.filesystem("memory")
    for name in ("b.jsonl", "a.jsonl", "c.txt"):
        fs.pipe(f"/winnow-glob/{name}", b"{}")
    try:
        assert expand_uri("memory://winnow-glob/*.jsonl") == [
            "memory:///winnow-glob/a.jsonl",
            "memory:///winnow-glob/b.jsonl",
        ]
    finally:
        fs.rm("/winnow-glob", recursive=True)
