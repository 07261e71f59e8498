"""Hostile input costs bounded time (issue 12, defect 7): header caps, linear reads, loop-safe
source expansion, a total deadline per download. Real files in tmp_path, a real loopback server,
the real CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from ingest import sources
from ingest.fetch import FetchError, fetch
from ingest.readers import read_records
from ingest.records import MAX_ERROR_CHARS, BadRecord, Record
from ingest.sources import TooManyFiles, expand_local, expand_uri
from ingest.warc import MAX_HEADER_BLOCK, MAX_HEADER_LINE, MAX_HEADER_LINES
from pipeline.config import ConfigError, parse_config
from pipeline.stages.ingest import expand_sources
from tests.http_fixtures import Fault, serve_directory

REPO_ROOT = Path(__file__).resolve().parents[1]
RECORD = (
    b"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Target-URI: http://a.example/\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n"
)


def _read_timed(path: Path) -> tuple[list[Record | BadRecord], float]:
    start = time.perf_counter()
    recs = list(read_records(path, path.name))
    return recs, time.perf_counter() - start


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b"WARC/1.0\r\nX-Long: " + b"a" * (64 << 20) + b"\r\n\r\n", id="64MB-header-line"),
        pytest.param(b"a" * (64 << 20), id="64MB-line-no-newline"),
        pytest.param(b"WARC/1.0\r\nX: 1\r\n" + b" continued\r\n" * 200_000, id="2MB-header-block"),
        pytest.param(b"\r\n" * (4 << 20), id="8MB-of-blank-lines"),
        pytest.param(b"WARC/1.0\r\n" + b"X: 1\r\n" * 100_000, id="100k-header-lines"),
    ],
)
def test_warc_header_bombs_stop_fast_and_say_what_was_not_read(tmp_path: Path, tail: bytes) -> None:
    """Lines cost quadratic time (16 MB: 10.9 s; a 4 GB bomb ran past 400 s). Now: capped, quick."""
    path = tmp_path / "bomb.warc"
    path.write_bytes(RECORD + tail)
    recs, seconds = _read_timed(path)
    assert seconds < 2.0
    assert [type(r).__name__ for r in recs] == ["Record", "BadRecord"] and recs[0].text == "hello"
    bad = recs[1]
    assert bad.error.startswith("unread_remainder: unreadable input after 1 documents: HeaderTooLarge")
    assert 0 < bad.bytes_unread < len(tail) and len(bad.error) < MAX_ERROR_CHARS + 200


def test_headers_under_the_caps_still_read(tmp_path: Path) -> None:
    long_uri = "http://a.example/" + "x" * (MAX_HEADER_LINE - 100)
    pad = (MAX_HEADER_BLOCK - MAX_HEADER_LINE) // (MAX_HEADER_LINES - 10)
    block = "".join(f"X-Pad-{i:04d}: {'p' * (pad - 20)}\r\n" for i in range(MAX_HEADER_LINES - 10))
    rec = (
        f"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Target-URI: {long_uri}\r\n{block}"
        "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n"
    ).encode()
    (tmp_path / "ok.warc").write_bytes(rec * 3 + b"\r\n" * (MAX_HEADER_LINES - 10))
    recs, seconds = _read_timed(tmp_path / "ok.warc")
    assert [r.text for r in recs] == ["hello"] * 3 and recs[0].url == long_uri
    assert seconds < 2.0


def test_zstd_bomb_reads_in_bounded_time(tmp_path: Path) -> None:
    """256 MiB of zeros in a few KB of zstd: one decompress call used to return all of it, then
    each 64 KiB read copied the rest (quadratic). Run in a child so a regression fails, not hangs."""
    script = textwrap.dedent(
        f"""
        import zstandard
        from pathlib import Path
        from ingest.readers import read_records
        path = Path({str(tmp_path / "bomb.txt.zst")!r})
        path.write_bytes(zstandard.ZstdCompressor().compress(bytes(256 << 20)))
        (bad,) = read_records(path, path.name, max_doc_bytes=1 << 20)
        print(bad.error)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"document too large: {256 << 20} bytes")


def _symlink_loops(root: Path) -> Path:
    """A corpus with two symlink loops: each level of `a/` and `b/` leads back to the top."""
    corpus = root / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "one.jsonl").write_text('{"text": "one"}\n')
    (corpus / "sub" / "two.jsonl").write_text('{"text": "two"}\n')
    (corpus / "sub" / "a").symlink_to(corpus)
    (corpus / "sub" / "b").symlink_to(corpus)
    (corpus / "alias.jsonl").symlink_to(corpus / "one.jsonl")
    return corpus


def test_glob_and_directory_expansion_visit_each_real_file_once(tmp_path: Path) -> None:
    corpus = _symlink_loops(tmp_path)
    want = [str(corpus / "alias.jsonl"), str(corpus / "sub" / "two.jsonl")]
    start = time.perf_counter()
    assert expand_uri(str(corpus / "**" / "*.jsonl")) == want
    assert expand_uri(str(corpus)) == want
    assert expand_uri(corpus.as_uri() + "/*/*.jsonl") == [(corpus / "sub" / "two.jsonl").as_uri()]
    assert time.perf_counter() - start < 2.0


def test_a_pattern_matching_too_many_files_is_a_config_error(tmp_path: Path, monkeypatch) -> None:
    for i in range(5):
        (tmp_path / f"{i}.jsonl").write_text("{}\n")
    with pytest.raises(TooManyFiles, match=r"matches more than 3 files; narrow the pattern"):
        expand_local(str(tmp_path / "*.jsonl"), max_files=3)
    monkeypatch.setattr(sources, "MAX_FILES", 4)  # the default limit is a million: lower it, not fake it
    cfg = parse_config({"stages": ["ingest"], "ingest": {"sources": [{"uri": str(tmp_path)}]}})
    with pytest.raises(ConfigError, match=r"^ingest\.sources\.0\.uri: .* matches more than 4 files"):
        expand_sources(cfg)


def test_validate_sources_with_symlink_loops_finishes(tmp_path: Path) -> None:
    corpus = _symlink_loops(tmp_path)
    config = tmp_path / "loops.yaml"
    sources = [{"uri": "corpus/**/*.jsonl"}, {"uri": "corpus"}, {"uri": str(corpus / "one.jsonl")}]
    config.write_text(yaml.safe_dump({"name": "loops", "stages": ["ingest"], "ingest": {"sources": sources}}))
    proc = subprocess.run(
        [sys.executable, "-m", "winnow.cli", "validate", str(config), "--sources"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = [line.strip() for line in proc.stdout.splitlines()[1:]]
    assert listed == ["corpus/alias.jsonl", "corpus/sub/two.jsonl"]  # one.jsonl is alias.jsonl


def test_slow_drip_download_ends_at_its_deadline(tmp_path: Path) -> None:
    """A server sending a byte per second never trips the per-read timeout; the total deadline does."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "slow.jsonl").write_bytes(b'{"text": "x"}\n' * 100)
    with serve_directory(tmp_path / "site", {"slow.jsonl": Fault(drip_every=1.0, times=None)}) as server:
        start = time.perf_counter()
        with pytest.raises(
            FetchError, match=r"not finished within its deadline of 2 s \(\d bytes received\)"
        ):
            fetch(f"{server.url}/slow.jsonl", tmp_path / "cache", deadline_s=2, timeout=5, progress=False)
        assert time.perf_counter() - start < 5


def test_too_slow_attempt_is_resumed_then_ends_at_the_deadline(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "slow.jsonl").write_bytes(b'{"text": "x"}\n' * 100)
    with serve_directory(tmp_path / "site", {"slow.jsonl": Fault(drip_every=0.05, times=None)}) as server:
        with pytest.raises(FetchError, match="deadline of 3 s"):
            fetch(
                f"{server.url}/slow.jsonl",
                tmp_path / "cache",
                deadline_s=3,
                min_rate=1000,
                rate_window_s=0.5,
                backoff=0.01,
                progress=False,
            )
        requests = server.requests_for("slow.jsonl")
    assert len(requests) >= 2 and requests[1].range is not None  # too slow: resumed, not restarted


def test_headers_dripped_a_byte_at_a_time_end_at_the_deadline(tmp_path: Path) -> None:
    """Every read gets its byte, so no per-read timeout fires; the download's deadline cuts the socket."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "slow.jsonl").write_bytes(b'{"text": "x"}\n')
    faults = {"slow.jsonl": Fault(header_drip_every=0.2, times=None)}
    with serve_directory(tmp_path / "site", faults) as server:
        start = time.perf_counter()
        with pytest.raises(FetchError, match=r"not finished within its deadline of 2 s"):
            fetch(f"{server.url}/slow.jsonl", tmp_path / "cache", deadline_s=2, timeout=5, progress=False)
        assert 2 <= time.perf_counter() - start < 5  # cut at the deadline, not failed at once
