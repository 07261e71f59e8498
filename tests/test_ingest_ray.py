"""read_records inside a Ray task, as the ingest stage runs it: same output as in-process, and the
SIGALRM extraction timeout is live there (Ray runs tasks on the worker's main thread)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.extract import ExtractSettings
from ingest.readers import read_records
from ingest.records import BadRecord

pytestmark = pytest.mark.ray


def test_reader_in_ray_task_matches_local_and_timeout_works(ray_session, shared_data: Path) -> None:
    def _read_all(path: str, timeout: float | None) -> list:  # nested: shipped by value to workers
        return list(read_records(Path(path), path, extract_settings=ExtractSettings(timeout=timeout)))

    path = str(shared_data / "web" / "warc" / "resiliparse_CC-MAIN-2020-34_excerpt.warc.gz")
    remote = ray_session.remote(_read_all)
    normal, starved = ray_session.get([remote.remote(path, 30.0), remote.remote(path, 1e-5)])
    assert normal == _read_all(path, 30.0)
    assert len(starved) == len(normal)
    assert any(isinstance(r, BadRecord) and "extraction exceeded" in r.error for r in starved)
