"""The shared kit (`kit.files`, `kit.parquet`): atomic writes, file digests, pinned files and opening a Parquet
input, used by every library (issue 16)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dedup.io import DedupInputError, parquet_metadata, write_parquet_atomic
from kit.files import (
    TEMPORARY_NAME,
    FileTooLargeError,
    PinnedFileError,
    atomic_write,
    file_sha256,
    read_pinned,
    replace_dir,
    temporary_path,
    write_bytes_atomic,
    write_text_atomic,
)
from kit.parquet import NotParquetError, open_parquet
from tokenization.errors import TokenizeInputError
from tokenization.inputs import count_documents


@pytest.mark.parametrize("size", [0, 1, 3 * 2**20 + 17])
def test_file_sha256_equals_hashlib(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()


def test_atomic_write_shows_nothing_until_done(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "out.json"
    with atomic_write(dest, "w", encoding="utf-8") as f:
        f.write("{}")
        (tmp,) = os.listdir(dest.parent)  # only the hidden temporary exists while writing
        assert TEMPORARY_NAME.fullmatch(tmp) and tmp.startswith(".out.json.")
        assert not dest.exists()
    assert dest.read_text(encoding="utf-8") == "{}"
    assert os.listdir(dest.parent) == ["out.json"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(dest) as f:
        f.write(b"half of the new")
        raise RuntimeError("killed mid-write")
    assert dest.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_replace_dir_publishes_a_new_directory(tmp_path: Path) -> None:
    staging = tmp_path / "work" / "staging"
    staging.mkdir(parents=True)
    (staging / "a.bin").write_bytes(b"new")
    replace_dir(staging, tmp_path / "out")
    assert _tree(tmp_path / "out") == {"a.bin": b"new"} and not staging.exists()


@pytest.mark.parametrize("old", ["dir", "file", "symlink"])
def test_replace_dir_replaces_what_is_there_and_deletes_it(tmp_path: Path, old: str) -> None:
    final, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.bin").write_bytes(b"not ours")
    if old == "dir":
        (final / "sub").mkdir(parents=True)
        (final / "sub" / "old.bin").write_bytes(b"old")
    elif old == "file":
        final.write_bytes(b"old")
    else:
        final.symlink_to(elsewhere, target_is_directory=True)
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "a.bin").write_bytes(b"new")
    replace_dir(staging, final)
    assert not final.is_symlink() and _tree(final) == {"a.bin": b"new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "out"]  # the old one is gone
    assert _tree(elsewhere) == {"keep.bin": b"not ours"}  # a link's target is not deleted


def test_replace_dir_failure_puts_the_old_directory_back(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.bin").write_bytes(b"old")
    with pytest.raises(FileNotFoundError):
        replace_dir(tmp_path / "no-such-staging", final)
    assert _tree(final) == {"old.bin": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_write_respects_the_umask(tmp_path: Path) -> None:
    # in a child process: the umask is process-wide
    code = (
        "import os, sys; os.umask(0o027); from kit.files import write_bytes_atomic;"
        " write_bytes_atomic(sys.argv[1], b'x'); print(oct(os.stat(sys.argv[1]).st_mode & 0o777))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "f")], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == oct(0o666 & ~0o027)  # not mkstemp's 0600


def test_atomic_write_modes(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "t.txt", "grüße\n")
    assert (tmp_path / "t.txt").read_bytes() == "grüße\n".encode()
    write_bytes_atomic(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "a.txt", "a"):
        pass
    assert TEMPORARY_NAME.fullmatch(temporary_path(tmp_path / "x.parquet").name)


def test_parquet_through_the_kit_is_byte_identical_to_pyarrow(tmp_path: Path) -> None:
    """The library stays the reference: writing through a file object changes no byte."""
    t = pa.table({"id": [str(i) for i in range(3000)], "text": ["x" * (i % 97) for i in range(3000)]})
    pq.write_table(t, tmp_path / "ref.parquet", compression="zstd")
    write_parquet_atomic(t, tmp_path / "kit.parquet")
    assert (tmp_path / "kit.parquet").read_bytes() == (tmp_path / "ref.parquet").read_bytes()


def test_read_pinned_reads_only_the_pinned_bytes(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights")
    good = hashlib.sha256(b"weights").hexdigest()
    assert read_pinned(path, good, "weights") == b"weights"
    assert read_pinned(path, None, "weights") == b"weights"  # unpinned: read the same way
    path.write_bytes(b"weightz")
    with pytest.raises(PinnedFileError) as e:
        read_pinned(path, good, "weights")
    assert isinstance(e.value, ValueError)
    assert (e.value.path, e.value.expected, e.value.actual) == (path, good, file_sha256(path))
    assert str(e.value) == f"weights {path} has sha256 {file_sha256(path)}, expected {good}"
    with pytest.raises(FileTooLargeError, match="larger than 6 bytes"):
        read_pinned(path, None, "weights", max_bytes=6)
    assert read_pinned(path, None, "weights", max_bytes=7) == b"weightz"
    with pytest.raises(FileNotFoundError):
        read_pinned(tmp_path / "missing.bin", good, "weights")


def test_open_parquet_reads_the_footer_or_names_a_file_that_is_not_parquet(tmp_path: Path) -> None:
    pq.write_table(pa.table({"text": ["a", "b"]}), tmp_path / "ok.parquet")
    assert open_parquet(str(tmp_path / "ok.parquet")).metadata.num_rows == 2
    (tmp_path / "bad.parquet").write_text('{"text": "a"}\n')
    with pytest.raises(NotParquetError) as e:
        open_parquet(str(tmp_path / "bad.parquet"))
    assert isinstance(e.value, ValueError)
    assert str(e.value).startswith(f"{tmp_path}/bad.parquet is not a Parquet file (")
    assert str(e.value).endswith(") — give a valid .parquet file, or rename it if it holds JSONL")


def test_dedup_and_tokenize_refuse_a_file_that_is_not_parquet_with_one_message(tmp_path: Path) -> None:
    """One implementation: each library raises the kit's message as its own typed input error."""
    bad = str(tmp_path / "bad.parquet")
    Path(bad).write_text("x\n")
    with pytest.raises(NotParquetError) as kit:
        open_parquet(bad)
    with pytest.raises(DedupInputError) as dedup:
        parquet_metadata(bad)
    with pytest.raises(TokenizeInputError) as tokenize:
        count_documents(bad)
    assert str(dedup.value) == str(tokenize.value) == str(kit.value)
