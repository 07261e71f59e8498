"""Run-directory storage: local paths or any fsspec URI, with atomic writes.

Everything the pipeline writes goes through here so that a killed run never
leaves a half-written file that a rerun would mistake for a finished one.
Local files are written to a temporary name and renamed; object stores
(s3://, gs://, ...) already make a PUT visible all at once. Where each file of a
run lives (its names) is `pipeline.layout`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from typing import IO, Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from kit.files import TEMPORARY_NAME, atomic_write

PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 3, "write_statistics": True}


def filesystem(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem for `path` and the path as that filesystem spells it."""
    fs, _, paths = fsspec.get_fs_token_paths(path)
    return fs, paths[0]


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])


def exists(path: str) -> bool:
    fs, p = filesystem(path)
    return fs.exists(p)


def makedirs(path: str) -> None:
    fs, p = filesystem(path)
    fs.makedirs(p, exist_ok=True)


def listdir(path: str, suffix: str = "") -> list[str]:
    """Sorted file paths directly under `path` that end with `suffix` (empty when it does not exist)."""
    fs, p = filesystem(path)
    if not fs.exists(p):
        return []
    names = [info["name"] for info in fs.ls(p, detail=True) if info["type"] == "file"]
    prefix = path.split("://", 1)[0] + "://" if not is_local(path) else ""
    return sorted(prefix + n for n in names if n.endswith(suffix) and not os.path.basename(n).startswith("."))


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb") -> Iterator[IO]:
    """Open `path` for writing so that readers see either nothing or the whole file."""
    if is_local(path):
        local = path[len("file://") :] if path.startswith("file://") else path
        with atomic_write(local, mode) as f:
            yield f
    else:
        fs, p = filesystem(path)
        with fs.open(p, mode) as f:
            yield f


def remove_temporaries(path: str) -> list[str]:
    """Delete the temporaries of writes that never finished (a killed run) under `path`.

    They are invisible to readers (dot names) but hold disk space, and a crash leaves one per
    open part. Call it only while nothing writes under `path` (before a stage resumes). Object
    stores have no temporaries. Returns the paths removed, sorted.
    """
    if not is_local(path):
        return []
    root = path[len("file://") :] if path.startswith("file://") else path
    removed = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            if TEMPORARY_NAME.fullmatch(name):
                full = os.path.join(dirpath, name)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(full)
                    removed.append(full)
    return sorted(removed)


def write_json(path: str, obj: Any) -> None:
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def read_json(path: str) -> Any:
    fs, p = filesystem(path)
    with fs.open(p, "r") as f:
        return json.load(f)


def write_text(path: str, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def read_text(path: str) -> str:
    fs, p = filesystem(path)
    with fs.open(p, "r") as f:
        return f.read()


class AtomicParquetWriter:
    """Streams record batches into one Parquet file that appears only when closed without error."""

    def __init__(self, path: str, schema: pa.Schema):
        self.path = path
        self.schema = schema
        self.rows = 0
        self._cm = atomic_open(path, "wb")
        self._file = self._cm.__enter__()
        self._writer = pq.ParquetWriter(self._file, schema, **PARQUET_OPTIONS)

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._writer.write_table(table.select(self.schema.names).cast(self.schema))
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()
        self._cm.__exit__(None, None, None)

    def abort(self, exc: BaseException) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        self._cm.__exit__(type(exc), exc, exc.__traceback__)

    def __enter__(self) -> AtomicParquetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)


def write_parquet(path: str, table: pa.Table) -> None:
    with AtomicParquetWriter(path, table.schema) as w:
        w.write(table)


def open_parquet(path: str) -> pq.ParquetFile:
    fs, p = filesystem(path)
    return pq.ParquetFile(fs.open(p, "rb"))


def read_parquet(path: str, columns: list[str] | None = None) -> pa.Table:
    fs, p = filesystem(path)
    return pq.read_table(p, filesystem=fs, columns=columns)


def remove_tree(path: str) -> None:
    fs, p = filesystem(path)
    if fs.exists(p):
        fs.rm(p, recursive=True)


class RunDirBusy(RuntimeError):
    """Another process holds the run directory's lock."""


@contextlib.contextmanager
def run_dir_lock(run_dir: str) -> Iterator[None]:
    """Hold an exclusive lock on a local run directory for the whole run.

    Two runs writing one directory would race on its parts, and resuming removes the temporaries
    of killed writers, which must not be a live run's. The lock file sits beside the directory
    (`.<name>.lock`), so `--restart` can delete the directory without dropping the lock. Object
    stores have no such lock: a cluster run on s3:// is the user's to keep single.
    """
    if not is_local(run_dir):
        yield
        return
    lock_path = _lock_path(run_dir)
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(run_dir, handle) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_run_dir_free(run_dir: str) -> None:
    """Raise RunDirBusy if a live run holds the run directory's lock, creating nothing: lets `winnow
    run` refuse before Ray starts. The run still takes the lock itself (`run_dir_lock`)."""
    if not is_local(run_dir):
        return
    try:
        with open(_lock_path(run_dir)) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _busy(run_dir, handle) from None
            fcntl.flock(handle, fcntl.LOCK_UN)
    except FileNotFoundError:  # no lock file: no run has held it
        return


def _lock_path(run_dir: str) -> str:
    """`.<name>.lock` beside a local run directory."""
    root = os.path.abspath(run_dir[len("file://") :] if run_dir.startswith("file://") else run_dir)
    return os.path.join(os.path.dirname(root), f".{os.path.basename(root)}.lock")


def _busy(run_dir: str, handle: IO[str]) -> RunDirBusy:
    """The refusal, naming the holder its lock file records (`pid N`)."""
    handle.seek(0)
    holder = handle.read().strip() or "another process"
    return RunDirBusy(f"{run_dir} is in use by a running winnow ({holder})")
