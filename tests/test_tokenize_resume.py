"""A killed tokenize resumes from its work directory: same output bytes, appended chunks not encoded again."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.test_tokenization import _cfg, _speeches, _write_parquet
from tokenization import EmptyCorpusError, tokenize_to_dir
from tokenization.workdir import WorkDir

pytestmark = pytest.mark.ray


class Killed(Exception):
    """Stands for the process dying part-way through encoding."""


def _kill_after(appended: int):
    """A progress callback that 'kills' the run once `appended` chunks are in the streams."""

    def progress(done: int, total: int, documents: int) -> None:
        if done >= appended:
            raise Killed(f"killed after {done} of {total} chunks")

    return progress


def _digests(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def source(tmp_path_factory, shared_data) -> Path:
    d = tmp_path_factory.mktemp("resume_src")
    return _write_parquet(d / "part-00000.parquet", _speeches(shared_data, 1200), row_group_size=100)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, source, ray_session) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("resume_ref") / "tokens"
    stats = tokenize_to_dir([str(source)], str(out), _cfg(num_workers=1, docs_per_task=100))
    assert stats.chunks == 12 and stats.chunks_reused == 0
    assert not WorkDir(out).path.exists()  # removed once published
    return _digests(out)


def test_killed_run_resumes_with_the_same_bytes(tmp_path, source, uninterrupted):
    out = tmp_path / "tokens"
    cfg = _cfg(num_workers=1, docs_per_task=100)
    with pytest.raises(Killed):
        tokenize_to_dir([str(source)], str(out), cfg, progress=_kill_after(5))
    work = WorkDir(out)
    assert work.load_progress().appended == 5 and work.load_tokenizer() is not None
    assert not out.exists()  # nothing published
    stats = tokenize_to_dir([str(source)], str(out), cfg)
    assert stats.chunks_reused >= 5  # the appended ones (and any encoded before the kill) are not redone
    assert _digests(out) == uninterrupted
    assert not work.path.exists()


def test_resume_with_other_workers_and_tasks_keeps_the_first_plan(tmp_path, source, uninterrupted):
    """Worker count and task size do not change output bytes, so a resume with other values goes on."""
    out = tmp_path / "tokens"
    with pytest.raises(Killed):
        tokenize_to_dir(
            [str(source)], str(out), _cfg(num_workers=1, docs_per_task=100), progress=_kill_after(3)
        )
    stats = tokenize_to_dir([str(source)], str(out), _cfg(num_workers=2, docs_per_task=37))
    assert stats.chunks == 12 and stats.chunks_reused >= 3
    assert _digests(out) == uninterrupted


def test_a_kill_mid_append_is_cut_back(tmp_path, source, uninterrupted):
    """Bytes written to a stream after the last saved state (a chunk half appended, or a tail's padding)
    and the files of an appended chunk that was not yet deleted do not reach the output."""
    out = tmp_path / "tokens"
    cfg = _cfg(num_workers=1, docs_per_task=100)
    with pytest.raises(Killed):
        tokenize_to_dir([str(source)], str(out), cfg, progress=_kill_after(4))
    work = WorkDir(out)
    with open(work.stream("train"), "ab") as f:
        f.write(b"\x07\x00\x00\x00" * 1001)
    (work.path / "chunk-000001.train.bin").write_bytes(b"\x01\x00\x00\x00")
    tokenize_to_dir([str(source)], str(out), cfg)
    assert _digests(out) == uninterrupted


def test_changed_input_or_config_starts_over(tmp_path, source, uninterrupted):
    out = tmp_path / "tokens"
    cfg = _cfg(num_workers=1, docs_per_task=100)
    with pytest.raises(Killed):
        tokenize_to_dir([str(source)], str(out), cfg, progress=_kill_after(4))
    other = _cfg(num_workers=1, docs_per_task=100, seed=8)  # the seed shapes the output
    stats = tokenize_to_dir([str(source)], str(out), other, overwrite=True)
    assert stats.chunks_reused == 0
    with pytest.raises(Killed):
        tokenize_to_dir([str(source)], str(out), cfg, overwrite=True, progress=_kill_after(4))
    st = os.stat(source)
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # the input file changed
    stats = tokenize_to_dir([str(source)], str(out), cfg, overwrite=True)
    assert stats.chunks_reused == 0
    assert _digests(out) == uninterrupted  # same content, so the same bytes, from scratch


def test_an_error_a_rerun_would_repeat_leaves_no_work_directory(tmp_path):
    empty = _write_parquet(tmp_path / "empty.parquet", ["", ""])
    out = tmp_path / "tokens"
    with pytest.raises(EmptyCorpusError):
        tokenize_to_dir([str(empty)], str(out), _cfg(num_workers=1))
    assert not WorkDir(out).path.exists()


def test_two_tokenizers_into_one_output_do_not_mix(tmp_path, source):
    out = tmp_path / "tokens"
    work = WorkDir(out)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with work.locked():
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)
        with pytest.raises(RuntimeError, match="another process is tokenizing"):
            tokenize_to_dir([str(source)], str(out), _cfg(num_workers=1))
    finally:
        release.set()
        t.join()
