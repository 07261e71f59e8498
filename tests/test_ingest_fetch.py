"""fetch(): local passthrough, HTTP cache, retries, resume with Range, checksum, fsspec."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from ingest.fetch import FetchError, cache_path, fetch
from tests.http_fixtures import Fault, serve_directory

WARC = "web/warc/dolma_sample-0000.warc.gz"  # 214 KB: big enough to cut mid-body


@pytest.fixture()
def site(tmp_path: Path, shared_data: Path) -> Path:
    root = tmp_path / "site"
    (root / "data").mkdir(parents=True)
    shutil.copy(shared_data / WARC, root / "data" / "sample.warc.gz")
    return root


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_local_path_and_file_uri_returned_as_is(site: Path) -> None:
    src = site / "data" / "sample.warc.gz"
    assert fetch(str(src), site / "cache") == src
    assert fetch(src.as_uri(), site / "cache", sha256=_sha(src)) == src
    assert not (site / "cache").exists()  # nothing copied


def test_local_errors(site: Path) -> None:
    with pytest.raises(FetchError, match="no such file"):
        fetch(str(site / "missing.jsonl"), site / "cache")
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch(str(site / "data" / "sample.warc.gz"), site / "cache", sha256="0" * 64)


def test_download_then_cache_hit_makes_no_request(site: Path, tmp_path: Path) -> None:
    src = site / "data" / "sample.warc.gz"
    with serve_directory(site) as server:
        uri = f"{server.url}/data/sample.warc.gz"
        got = fetch(uri, tmp_path / "cache", sha256=_sha(src), progress=False)
        assert got == cache_path(uri, tmp_path / "cache")
        assert got.name == "sample.warc.gz"  # name kept: readers detect the format from it
        assert got.read_bytes() == src.read_bytes()
        assert got.with_name(got.name + ".sha256").read_text().strip() == _sha(src)
        assert fetch(uri, tmp_path / "cache", progress=False) == got
        assert fetch(uri, tmp_path / "cache", sha256=_sha(src), progress=False) == got
    assert len(server.requests) == 1


def test_404_fails_fast_with_uri_and_status(site: Path, tmp_path: Path) -> None:
    with serve_directory(site) as server:
        uri = f"{server.url}/data/nope.jsonl"
        with pytest.raises(FetchError) as err:
            fetch(uri, tmp_path / "cache", backoff=0.01, progress=False)
    assert err.value.status == 404 and err.value.uri == uri
    assert uri in str(err.value) and "404" in str(err.value)
    assert len(server.requests) == 1  # not retried


def test_403_fails_fast(site: Path, tmp_path: Path) -> None:
    faults = {"data/sample.warc.gz": Fault(status=403, times=None)}
    with serve_directory(site, faults) as server, pytest.raises(FetchError) as err:
        fetch(f"{server.url}/data/sample.warc.gz", tmp_path / "cache", backoff=0.01, progress=False)
    assert err.value.status == 403 and len(server.requests) == 1


def test_500_then_success_is_retried(site: Path, tmp_path: Path) -> None:
    faults = {"data/sample.warc.gz": Fault(status=500, times=2)}
    with serve_directory(site, faults) as server:
        got = fetch(f"{server.url}/data/sample.warc.gz", tmp_path / "cache", backoff=0.01, progress=False)
    assert [r.status for r in server.requests] == [500, 500, 200]
    assert got.read_bytes() == (site / "data" / "sample.warc.gz").read_bytes()


def test_persistent_503_gives_up_after_retries(site: Path, tmp_path: Path) -> None:
    faults = {"data/sample.warc.gz": Fault(status=503, times=None)}
    with serve_directory(site, faults) as server:
        uri = f"{server.url}/data/sample.warc.gz"
        with pytest.raises(FetchError, match="gave up after 2 retries"):
            fetch(uri, tmp_path / "cache", retries=2, backoff=0.01, progress=False)
    assert len(server.requests) == 3
    assert not cache_path(uri, tmp_path / "cache").exists()


def test_dropped_connection_resumes_with_range(site: Path, tmp_path: Path) -> None:
    src = site / "data" / "sample.warc.gz"
    cut = 100_000
    with serve_directory(site, {"data/sample.warc.gz": Fault(drop_after=cut)}) as server:
        got = fetch(f"{server.url}/data/sample.warc.gz", tmp_path / "cache", backoff=0.01, progress=False)
    first, second = server.requests
    assert (first.status, first.range, first.bytes_sent) == (200, None, cut)
    assert (second.status, second.range) == (206, f"bytes={cut}-")
    assert second.bytes_sent == src.stat().st_size - cut  # resumed, not restarted
    assert got.read_bytes() == src.read_bytes()


def test_dropped_connection_without_range_support_restarts(site: Path, tmp_path: Path) -> None:
    src = site / "data" / "sample.warc.gz"
    faults = {"data/sample.warc.gz": Fault(drop_after=50_000)}
    with serve_directory(site, faults, ranges=False) as server:
        got = fetch(f"{server.url}/data/sample.warc.gz", tmp_path / "cache", backoff=0.01, progress=False)
    assert [r.status for r in server.requests] == [200, 200]
    assert server.requests[1].range == "bytes=50000-"  # asked to resume; the server said 200
    assert got.read_bytes() == src.read_bytes()  # 200 body replaced the partial, not appended


def test_partial_file_from_an_interrupted_run_is_resumed(site: Path, tmp_path: Path) -> None:
    src = site / "data" / "sample.warc.gz"
    with serve_directory(site) as server:
        uri = f"{server.url}/data/sample.warc.gz"
        final = cache_path(uri, tmp_path / "cache")
        final.parent.mkdir(parents=True)
        final.with_name(final.name + ".part").write_bytes(src.read_bytes()[:1234])
        got = fetch(uri, tmp_path / "cache", sha256=_sha(src), progress=False)
    assert [(r.status, r.range) for r in server.requests] == [(206, "bytes=1234-")]
    assert got.read_bytes() == src.read_bytes()


def test_resume_sends_if_range_and_a_changed_file_is_fetched_whole(site: Path, tmp_path: Path) -> None:
    src = site / "data" / "sample.warc.gz"
    with serve_directory(site, {"data/sample.warc.gz": Fault(drop_after=60_000)}) as server:
        uri = f"{server.url}/data/sample.warc.gz"
        fetch(uri, tmp_path / "cache", backoff=0.01, progress=False)
        etag = server.requests[0].etag
        assert etag and server.requests[1].if_range == etag  # resume validated against the ETag
        # a partial download whose file has since changed on the server: whole file, not a splice
        other = cache_path(uri, tmp_path / "other")
        other.parent.mkdir(parents=True)
        other.with_name(other.name + ".part").write_bytes(b"old version of the file")
        other.with_name(other.name + ".part.validator").write_text('"stale-etag"')
        got = fetch(uri, tmp_path / "other", sha256=_sha(src), progress=False)
    assert (server.requests[-1].status, server.requests[-1].if_range) == (200, '"stale-etag"')
    assert got.read_bytes() == src.read_bytes()
    assert not other.with_name(other.name + ".part.validator").exists()


def test_sha256_mismatch_is_an_error_and_not_cached(site: Path, tmp_path: Path) -> None:
    with serve_directory(site) as server:
        uri = f"{server.url}/data/sample.warc.gz"
        with pytest.raises(FetchError, match="sha256 mismatch"):
            fetch(uri, tmp_path / "cache", sha256="ab" * 32, progress=False)
        final = cache_path(uri, tmp_path / "cache")
        assert not final.exists() and not final.with_name(final.name + ".part").exists()
        # the next call downloads again (nothing bad was cached)
        fetch(uri, tmp_path / "cache", progress=False)
    assert len(server.requests) == 2


def test_fsspec_uri_streams_into_cache(tmp_path: Path, shared_data: Path) -> None:
    import fsspec

    payload = (shared_data / "web/dolma_fixtures/provided_documents_000.json.gz").read_bytes()
    uri = "memory://winnow-test/docs/000.json.gz"
    with fsspec.open(uri, "wb") as f:
        f.write(payload)
    try:
        got = fetch(uri, tmp_path / "cache", sha256=hashlib.sha256(payload).hexdigest(), progress=False)
        assert got.read_bytes() == payload and got.name == "000.json.gz"
        with pytest.raises(FetchError):
            fetch("memory://winnow-test/docs/missing.json.gz", tmp_path / "cache", progress=False)
    finally:
        fsspec.filesystem("memory").rm("/winnow-test", recursive=True)
