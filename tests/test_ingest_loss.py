"""Readers never lose input silently (issue 12, defects 5 and 10).

A bad record is quarantined and reading goes on; a source that cannot be read to its end (or that
changes while it is read) ends with one `BadRecord` that says how many of its bytes were not read.
Every file here is real and written to tmp_path.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ingest.readers import read_records
from ingest.records import BadRecord, Record

DEEP = "[" * 5000


def _good(i: int) -> str:
    return json.dumps({"text": f"good document number {i} about rivers"})


def _jsonl(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _texts(recs: list[Record | BadRecord]) -> list[str]:
    return [r.text for r in recs if isinstance(r, Record)]


@pytest.mark.parametrize("name", ["deep.jsonl", "deep.jsonl.gz", "deep.jsonl.zst"])
def test_deeply_nested_json_quarantines_one_line_and_reads_on(tmp_path: Path, name: str) -> None:
    """5,000 nested `[` raised RecursionError, which stopped the reader: the lines after it vanished."""
    data = _jsonl([_good(0), DEEP, _good(1), "9" * 5000, _good(2)])
    if name.endswith(".gz"):
        data = gzip.compress(data)
    elif name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    (tmp_path / name).write_bytes(data)
    recs = list(read_records(tmp_path / name, name))
    assert [r.position for r in recs] == [0, 1, 2, 3, 4]
    assert _texts(recs) == [json.loads(_good(i))["text"] for i in range(3)]
    deep, huge_int = recs[1], recs[3]
    assert isinstance(deep, BadRecord) and deep.error == "line 2: JSON nested too deeply to parse"
    assert isinstance(huge_int, BadRecord) and huge_int.error.startswith(
        "line 4: unparsable JSON: ValueError"
    )
    assert deep.bytes_unread is None and huge_int.bytes_unread is None  # the file was read whole


def test_corrupt_stream_mid_file_says_how_much_was_not_read(tmp_path: Path) -> None:
    """Corruption in the middle of a multi-member gzip ends the reader; the rest is accounted."""
    rng = random.Random(0)
    lines = [json.dumps({"text": f"{i} {rng.randbytes(300).hex()}"}) for i in range(100)]
    members = [gzip.compress(_jsonl(lines), mtime=0) for _ in range(40)]  # ~33 KB each
    data = bytearray(b"".join(members))
    middle = sum(len(m) for m in members[:5])
    data[middle + 20 : middle + 60] = b"\x00" * 40  # inside member 5's deflate stream
    (tmp_path / "c.jsonl.gz").write_bytes(bytes(data))
    recs = list(read_records(tmp_path / "c.jsonl.gz", "c.jsonl.gz"))
    *good, last = recs
    assert len(good) >= 5 * 100 and all(isinstance(r, Record) for r in good)
    assert isinstance(last, BadRecord) and last.error.startswith(
        "unread_remainder: input truncated after line"
    )
    assert 0 < last.bytes_unread < len(data) - middle
    assert f"of {len(data):,} source bytes, {last.bytes_unread:,} not read" in last.error


def test_truncated_file_is_source_truncated_with_nothing_left_unread(tmp_path: Path) -> None:
    whole = gzip.compress(_jsonl([_good(i) for i in range(500)]), mtime=0)
    (tmp_path / "t.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    *_, last = read_records(tmp_path / "t.jsonl.gz", "t.jsonl.gz")
    assert isinstance(last, BadRecord) and last.bytes_unread == 0
    assert last.error.startswith("source_truncated: input truncated after line")


def test_unreadable_parquet_counts_the_whole_file_as_unread(tmp_path: Path) -> None:
    (tmp_path / "x.parquet").write_bytes(b"PAR1 not really parquet")
    (bad,) = read_records(tmp_path / "x.parquet", "x.parquet")
    assert isinstance(bad, BadRecord) and bad.error.startswith("unread_remainder: unreadable parquet file")
    assert bad.bytes_unread == len(b"PAR1 not really parquet")


def test_file_truncated_while_read_is_noticed(tmp_path: Path) -> None:
    """Cut to a line boundary while read: the reader saw a clean end and the tail vanished."""
    lines = [_good(i) for i in range(20_000)]
    path = tmp_path / "live.jsonl"
    path.write_bytes(_jsonl(lines))
    size = path.stat().st_size
    keep = len(_jsonl(lines[:10_000]))  # a line boundary past the reader's first buffer
    reader = read_records(path, "live.jsonl")
    first = next(reader)
    os.truncate(path, keep)
    rest = list(reader)
    assert isinstance(first, Record) and len(_texts(rest)) == 9_999
    last = rest[-1]
    assert isinstance(last, BadRecord) and last.position == 10_000
    assert last.error.startswith("source_changed: the file changed while it was read")
    assert f"of the {size:,} it had when opened" in last.error
    assert last.bytes_unread == size - keep


def test_file_appended_while_read_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "grow.jsonl"
    path.write_bytes(_jsonl([_good(i) for i in range(3)]))
    reader = read_records(path, "grow.jsonl")
    next(reader)
    with open(path, "ab") as f:
        f.write(_jsonl([_good(9)]))
    *_, last = reader
    assert isinstance(last, BadRecord) and last.error.startswith("source_changed")
    assert "its size is now" in last.error


def test_parquet_replaced_while_read_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": ["a", "b", "c"]}), path, row_group_size=1)
    reader = read_records(path, "p.parquet")
    next(reader)
    pq.write_table(pa.table({"text": ["other"] * 7}), tmp_path / "new.parquet")
    os.replace(tmp_path / "new.parquet", path)
    *_, last = reader
    assert isinstance(last, BadRecord) and last.error.startswith("source_changed") and "inode" in last.error


def test_unchanged_complete_files_end_without_a_bad_record(tmp_path: Path) -> None:
    (tmp_path / "ok.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(_jsonl([_good(1)] * 3)))
    (tmp_path / "ok.txt").write_text("plain text document")
    for name in ("ok.jsonl.zst", "ok.txt"):
        assert all(isinstance(r, Record) for r in read_records(tmp_path / name, name)), name


def _response(url: str, content_type: str, body: bytes) -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    http = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
    )
    return buf.getvalue()


def test_warc_record_that_fails_alone_is_quarantined_and_reading_goes_on(tmp_path: Path) -> None:
    """A charset Python cannot decode with (idna) used to raise out of the reader, ending the file."""
    page = b"<html><body><p>" + "caf\u00e9 ".encode("latin-1") * 40 + b"</p></body></html>"
    data = (
        _response("http://a.example/", "text/html; charset=latin-1", page)
        + _response("http://b.example/", "text/html; charset=idna", page)
        + _response("http://c.example/", "text/html; charset=latin-1", page)
    )
    (tmp_path / "mixed.warc").write_bytes(data)
    recs = list(read_records(tmp_path / "mixed.warc", "mixed.warc"))
    assert [type(r).__name__ for r in recs] == ["Record", "BadRecord", "Record"]
    assert recs[1].error.startswith("unreadable record: UnicodeError") and recs[1].bytes_unread is None
    assert "café" in recs[2].text
