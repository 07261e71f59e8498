"""read_records(): every format on real files, and every kind of bad input."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ingest.readers import detect_format, read_records
from ingest.records import BadRecord, Record

REPO = Path(__file__).resolve().parents[1]
WARC_DIR = "web/warc"
DOLMA = "web/dolma_fixtures"


def _read(path: Path, **kw) -> list[Record | BadRecord]:
    out = list(read_records(path, str(path), **kw))
    assert [r.position for r in out] == list(range(len(out))), "positions must be 0, 1, 2, ..."
    return out


def _html_responses(path: Path) -> int:
    """The expected record count, taken with warcio rather than our reader: HTTP responses served as HTML."""
    with path.open("rb") as f:
        return sum(
            r.rec_type == "response" and r.http_headers.get_header("Content-Type", "").startswith("text/html")
            for r in ArchiveIterator(f)
        )


def _words(text: str) -> Counter:
    return Counter(re.findall(r"\w+", text.lower()))


# ---------------------------------------------------------------- formats on real files


def test_detect_format() -> None:
    cases = {
        "CC-MAIN-x.warc.gz": "warc",
        "a.warc": "warc",
        "x.warc.wet.gz": "wet",
        "x.wet": "wet",
        "x.warc.wat.gz": "warc",
        "example.arc.gz": "arc",
        "d.jsonl": "jsonl",
        "d.jsonl.zst": "jsonl",
        "000.json.gz": "jsonl",
        "p.parquet": "parquet",
        "book.txt": "text",
        "book.txt.gz": "text",
        "https://host/a/b/c.jsonl.gz?x=1": "jsonl",
        "README": None,
    }
    assert {name: detect_format(name) for name in cases} == cases


def test_warc_extraction_matches_common_crawl_wet(shared_data: Path) -> None:
    """Our main text of CC's WARC capture is (nearly) a subset of CC's own WET text of the same page,
    with the WET's navigation boilerplate left out."""
    (warc,) = _read(shared_data / WARC_DIR / "cc_whirlwind.warc.gz")
    (wet,) = _read(shared_data / WARC_DIR / "cc_whirlwind.warc.wet.gz")
    assert isinstance(warc, Record) and isinstance(wet, Record)
    assert warc.url == wet.url == "https://an.wikipedia.org/wiki/Escopete"
    assert wet.meta["warc_type"] == "conversion" and wet.meta["lang"] == "spa"
    ours, cc = _words(warc.text), _words(wet.text)
    shared = sum((ours & cc).values())
    assert shared / sum(ours.values()) > 0.95  # what we keep is page text CC also saw
    assert sum(ours.values()) < 0.7 * sum(cc.values())  # and menus/sidebars are gone
    assert "Menú principal" in wet.text and "Menú principal" not in warc.text
    assert "Escopete ye un municipio" in warc.text


def test_dolma_sample_angle_bracket_uris(shared_data: Path) -> None:
    path = shared_data / WARC_DIR / "dolma_sample-0000.warc.gz"
    recs = _read(path)
    # the HTML responses; not counted: requests, warcinfo, metadata, wget's metadata:// log resources
    assert len(recs) == _html_responses(path) > 0 and all(isinstance(r, Record) for r in recs)
    assert {r.meta["warc_type"] for r in recs} == {"response"}
    urls = [r.url for r in recs]
    assert all(u and u.startswith("http") and "<" not in u and ">" not in u for u in urls)
    assert sum(bool(r.text.strip()) for r in recs) >= 20


def test_chunked_warc(shared_data: Path) -> None:
    (rec,) = _read(shared_data / WARC_DIR / "warcio_example-iana.org-chunked.warc")
    assert rec.url == "http://www.iana.org/" and rec.meta["http_status"] == 200
    assert "Root Zone" in rec.text and "<" not in rec.text  # de-chunked and extracted


def test_arc_and_resource_records(shared_data: Path) -> None:
    (arc,) = _read(shared_data / WARC_DIR / "warcio_example.arc.gz")
    (res,) = _read(shared_data / WARC_DIR / "warcio_example-resource.warc.gz")
    for rec in (arc, res):
        assert rec.url == "http://example.com/"
        assert "This domain is established to be used for illustrative examples" in rec.text
    assert res.meta["warc_type"] == "resource"


def test_non_documents_are_not_counted(shared_data: Path) -> None:
    # revisit + request + warcinfo only around one response; POST test has only non-HTML responses
    assert len(_read(shared_data / WARC_DIR / "warcio_example.warc.gz")) == 1
    assert _read(shared_data / WARC_DIR / "warcio_post-test.warc.gz") == []
    assert _read(shared_data / WARC_DIR / "cc_whirlwind.warc.wat.gz") == []
    # the SOPA capture has 74 responses but most are images/css/js assets
    sopa = _read(shared_data / WARC_DIR / "ukwa_sopa-wikipedia-homepage.warc.gz")
    assert 0 < len(sopa) < 10 and all(r.meta["content_type"] == "text/html" for r in sopa)


def test_multilingual_common_crawl_excerpt(shared_data: Path) -> None:
    path = shared_data / WARC_DIR / "resiliparse_CC-MAIN-2020-34_excerpt.warc.gz"
    recs = _read(path)
    assert len(recs) == _html_responses(path) > 0 and all(isinstance(r, Record) for r in recs)
    text = " ".join(r.text for r in recs)
    assert re.search(r"[\u0400-\u04ff]{4}", text) and re.search(r"[\u4e00-\u9fff]{4}", text)
    assert "\ufffd" not in text


def test_extract_html_false_returns_decoded_html(shared_data: Path) -> None:
    (rec,) = _read(shared_data / WARC_DIR / "cc_whirlwind.warc.gz", extract_html=False)
    assert rec.text.lstrip().lower().startswith("<!doctype html")


def test_dolma_jsonl_and_json_gz(shared_data: Path) -> None:
    path = shared_data / DOLMA / "cc_en_head-0091.jsonl"
    recs = _read(path)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert [r.text for r in recs] == [row["text"] for row in rows]
    assert [r.url for r in recs] == [row["metadata"]["url"] for row in rows]  # metadata.url
    assert [r.meta["orig_id"] for r in recs] == [str(row["id"]) for row in rows]
    gz = _read(shared_data / DOLMA / "provided_documents_000.json.gz")
    assert len(gz) == 10 and all(isinstance(r, Record) and r.text for r in gz)


def test_jsonl_zst_and_custom_text_field(shared_data: Path, tmp_path: Path) -> None:
    src = (shared_data / DOLMA / "cc_en_head-0174.jsonl").read_text().splitlines()
    renamed = [json.dumps({"content": json.loads(line)["text"]}) for line in src]
    path = tmp_path / "docs.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress("\n".join(renamed).encode()))
    recs = _read(path, text_field="content")
    assert [r.text for r in recs] == [json.loads(line)["text"] for line in src]


def test_parquet_in_batches_matches_jsonl(shared_data: Path, tmp_path: Path) -> None:
    rows = [json.loads(x) for x in (shared_data / DOLMA / "cc_en_head-0091.jsonl").read_text().splitlines()]
    table = pa.table(
        {
            "id": [r["id"] for r in rows],
            "text": [r["text"] for r in rows],
            "url": [r["metadata"]["url"] for r in rows],
        }
    )
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=3)
    recs = _read(tmp_path / "d.parquet", batch_size=2)
    assert [(r.text, r.url, r.meta["orig_id"]) for r in recs] == [
        (r["text"], r["metadata"]["url"], r["id"]) for r in rows
    ]


def test_parquet_missing_column_and_nulls_are_accounted_per_row(tmp_path: Path) -> None:
    pq.write_table(pa.table({"body": ["a", "b", "c"]}), tmp_path / "nocol.parquet", row_group_size=2)
    recs = _read(tmp_path / "nocol.parquet")
    assert len(recs) == 3 and all(isinstance(r, BadRecord) and "no column 'text'" in r.error for r in recs)
    pq.write_table(pa.table({"text": ["x", None, "z"]}), tmp_path / "nulls.parquet")
    recs = _read(tmp_path / "nulls.parquet")
    assert [type(r).__name__ for r in recs] == ["Record", "BadRecord", "Record"]
    (tmp_path / "junk.parquet").write_bytes(b"not a parquet file at all")
    (bad,) = _read(tmp_path / "junk.parquet")
    assert isinstance(bad, BadRecord) and "unreadable parquet" in bad.error


def test_plain_text_one_document_per_file(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "clean_text" / "tinyshakespeare_input.txt"
    (rec,) = _read(src)
    assert rec.text == src.read_text(encoding="utf-8")
    gz = tmp_path / "shakespeare.txt.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    (rec_gz,) = _read(gz)
    assert rec_gz.text == rec.text


_DIGEST_SCRIPT = """
import hashlib, sys
from pathlib import Path
from ingest.readers import read_records
path = Path(sys.argv[1])
print(hashlib.sha256(repr(list(read_records(path, str(path)))).encode()).hexdigest())
"""


def test_reading_is_deterministic(shared_data: Path) -> None:
    """Two independent runs agree: this process and a fresh interpreter with another hash seed."""
    path = shared_data / WARC_DIR / "resiliparse_CC-MAIN-2020-34_excerpt.warc.gz"
    here = hashlib.sha256(repr(_read(path)).encode()).hexdigest()
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    fresh = subprocess.run(
        [sys.executable, "-c", _DIGEST_SCRIPT, str(path)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=True,
    )  # fmt: skip
    assert fresh.stdout.strip() == here


# ---------------------------------------------------------------- bad input


def _warc_bytes(records: list[tuple[str, str, bytes]], gzip_it: bool = False) -> bytes:
    """A WARC of HTTP responses (url, content-type, body), written with warcio."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=gzip_it)
    for url, ctype, body in records:
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
        )
    return buf.getvalue()


def test_truncated_gzip_warc_yields_readable_then_bad_record(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / WARC_DIR / "dolma_sample-0000.warc.gz"
    full = _read(src)
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    recs = _read(cut)
    *good, bad = recs
    assert 0 < len(good) < len(full) and good == full[: len(good)]
    assert isinstance(bad, BadRecord) and "Compressed file ended" in bad.error


def test_plain_warc_cut_mid_record(shared_data: Path, tmp_path: Path) -> None:
    raw = gzip.decompress((shared_data / WARC_DIR / "dolma_sample-0000.warc.gz").read_bytes())
    full = _read(shared_data / WARC_DIR / "dolma_sample-0000.warc.gz")
    # cut inside the body of the 6th response record
    starts = [m.start() for m in re.finditer(rb"WARC-Type: response", raw)]
    cut_at = starts[5] + 3000
    path = tmp_path / "cut.warc"
    path.write_bytes(raw[:cut_at])
    *good, bad = _read(path)
    assert good == full[: len(good)] and len(good) == 5
    assert isinstance(bad, BadRecord) and bad.raw_excerpt and bad.bytes_unread == 0
    assert bad.error.startswith("source_truncated: record truncated: input ended")
    chunked = (shared_data / WARC_DIR / "warcio_example-iana.org-chunked.warc").read_bytes()
    (tmp_path / "chunked.warc").write_bytes(chunked[: len(chunked) - 2000])
    (bad,) = _read(tmp_path / "chunked.warc")
    assert isinstance(bad, BadRecord) and "truncated" in bad.error


def test_html_charset_and_empty_extraction_and_assets(tmp_path: Path) -> None:
    russian = (
        "<html><body><article><p>"
        + "Привет, мир! Это тестовая страница о погоде. " * 20
        + "</p></article></body></html>"
    )
    path = tmp_path / "mixed.warc.gz"
    path.write_bytes(
        _warc_bytes(
            [
                ("http://a.example/ru", "text/html; charset=windows-1251", russian.encode("cp1251")),
                ("http://a.example/logo.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(200)),
                ("http://a.example/style.css", "text/css", b"body{color:red}"),
                (
                    "http://a.example/empty",
                    "text/html",
                    b"<html><head><script>var x=1;</script></head><body></body></html>",
                ),
            ],
            gzip_it=True,
        )
    )
    recs = _read(path)
    assert [r.url for r in recs] == ["http://a.example/ru", "http://a.example/empty"]
    assert "Привет, мир!" in recs[0].text
    assert isinstance(recs[1], Record) and recs[1].text == ""  # the stage drops it as empty_text


def test_document_too_large(tmp_path: Path, shared_data: Path) -> None:
    big = b"<html><body><p>" + b"word " * 3000 + b"</p></body></html>"
    path = tmp_path / "big.warc"
    path.write_bytes(
        _warc_bytes([("http://a/1", "text/html", big), ("http://a/2", "text/html", b"<p>ok</p>")])
    )
    bad, ok = _read(path, max_doc_bytes=10_000)
    assert isinstance(bad, BadRecord) and bad.error.startswith(f"document too large: {len(big)} bytes")
    assert isinstance(ok, Record) and ok.url == "http://a/2"
    lines = (shared_data / DOLMA / "cc_en_head-0091.jsonl").read_bytes().splitlines(keepends=True)
    (tmp_path / "d.jsonl").write_bytes(b"".join(lines))
    recs = _read(tmp_path / "d.jsonl", max_doc_bytes=8_000)
    for line, rec in zip(lines, recs, strict=True):
        assert isinstance(rec, BadRecord) == (len(line) - 1 > 8_000)
        if isinstance(rec, BadRecord):
            assert rec.error.startswith(f"document too large: {len(line) - 1} bytes")


def test_jsonl_invalid_utf8_and_malformed_lines(shared_data: Path, tmp_path: Path) -> None:
    good = (shared_data / DOLMA / "cc_en_head-0174.jsonl").read_bytes().splitlines()[:3]
    lines = [
        good[0],
        b'{"text": "caf\xe9 au lait"}',
        good[1],
        b'{"text": "unterminated',
        b"",
        b"[1, 2]",
        b'{"id": 7}',
        good[2],
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    recs = _read(path)
    assert [type(r).__name__ for r in recs] == [
        "Record",
        "BadRecord",
        "Record",
        "BadRecord",
        "BadRecord",
        "BadRecord",
        "Record",
    ]
    assert recs[1].error.startswith("line 2: invalid UTF-8")
    assert recs[3].error.startswith("line 4: malformed JSON")
    assert recs[4].error.startswith("line 6: expected a JSON object")  # line 5 is blank: no document
    assert recs[5].error == "line 7: no 'text' field (found ['id'])"
    assert recs[1].raw_excerpt == lines[1] and recs[6].meta["line"] == 8


def test_truncated_jsonl_gz_and_zst(shared_data: Path, tmp_path: Path) -> None:
    # ~1 MB of distinct documents: zstd blocks hold up to 128 KB and a cut block decodes to nothing
    paragraphs = (shared_data / "clean_text" / "tinystories_head.txt").read_text().splitlines()
    data = "".join(json.dumps({"text": p}) + "\n" for p in paragraphs if p.strip()).encode()
    (tmp_path / "full.jsonl").write_bytes(data)
    full = _read(tmp_path / "full.jsonl")
    for name, blob in (
        ("t.jsonl.gz", gzip.compress(data)),
        ("t.jsonl.zst", zstandard.ZstdCompressor().compress(data)),
    ):
        path = tmp_path / name
        path.write_bytes(blob[: len(blob) * 2 // 3])
        *good, bad = _read(path)
        assert 0 < len(good) < len(full) and good == full[: len(good)], name
        assert isinstance(bad, BadRecord) and "truncated" in bad.error, name


def test_truncated_text_gz(shared_data: Path, tmp_path: Path) -> None:
    blob = gzip.compress((shared_data / "clean_text" / "tinystories_head.txt").read_bytes())
    (tmp_path / "s.txt.gz").write_bytes(blob[:-100])
    (bad,) = _read(tmp_path / "s.txt.gz")
    assert isinstance(bad, BadRecord) and "Compressed file ended" in bad.error


@pytest.mark.parametrize("name", ["e.warc.gz", "e.warc", "e.jsonl", "e.jsonl.gz", "e.txt", "e.wet.gz"])
def test_empty_file_has_no_records(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"") if name.endswith(".gz") and "jsonl" in name else b"")
    assert _read(path) == []


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("hi")
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_records(tmp_path / "README", "README")
    assert _read(tmp_path / "README", fmt="text")[0].text == "hi"


def test_extraction_timeout_quarantines_the_page(shared_data: Path) -> None:
    from ingest.extract import ExtractSettings

    path = shared_data / WARC_DIR / "resiliparse_CC-MAIN-2020-34_excerpt.warc.gz"
    recs = _read(path, extract_settings=ExtractSettings(timeout=1e-5))
    timed_out = [r for r in recs if isinstance(r, BadRecord)]
    assert len(recs) == _html_responses(path) and timed_out
    assert all(r.error.startswith("html extraction failed: extraction exceeded") for r in timed_out)
    after = _read(path)  # no stray alarm left behind: a normal read right after extracts every page
    assert len(after) == len(recs) and all(isinstance(r, Record) for r in after)
