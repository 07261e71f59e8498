"""The tokenizer's resumable work directory, ``.<out>.work/`` beside the output.

A killed tokenize resumes from it. The chunk plan and the tokenizer of the first attempt are kept,
and so is every chunk already appended to the split streams, with its counts. Only the chunks not yet
appended are encoded again. The directory is used only when the inputs (path, size, mtime) and the
config that shapes the output equal the first attempt's (the fingerprint); otherwise it is emptied and
the work starts over. It is removed once the output is published, and after an error that a rerun
would repeat (an empty corpus, a corpus too small for one row).

Layout: ``fingerprint.json``, ``plan.json`` (the chunks), ``tokenizer.json``, ``progress.json`` (the
streams' state after the last appended chunk), ``<split>.stream.bin``, the encode tasks'
``chunk-NNNNNN.<split>.bin`` files (written atomically: a killed task leaves only a
``kit.files.TEMPORARY_NAME`` temporary, deleted on resume) with a ``chunk-NNNNNN.done.json`` once the
driver has their counts, and ``staging/`` (the output being written; rebuilt on every attempt).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kit.files import TEMPORARY_NAME, write_bytes_atomic
from kit.jsonl import MAX_NAMED
from tokenization.config import TokenizeConfig
from tokenization.encode import SPLITS, ChunkResult, chunk_path
from tokenization.inputs import Chunk

WORK_FORMAT = 1
# Config fields that change how the work is split up but not one output byte.
_NOT_IN_FINGERPRINT = {"num_workers", "docs_per_task", "batch_size"}
_LOCK = ".lock"


def _zeros() -> dict[str, int]:
    return {s: 0 for s in SPLITS}


@dataclass
class StreamProgress:
    """The split streams after the first ``appended`` chunks: each stream's size and the counts so far."""

    appended: int = 0
    sizes: dict[str, int] = field(default_factory=_zeros)
    documents: dict[str, int] = field(default_factory=_zeros)
    records: int = 0  # documents read, including empty ones
    empty: int = 0
    text_bytes: int = 0
    malformed: int = 0  # JSONL lines that are not documents, skipped
    malformed_examples: list[str] = field(default_factory=list)

    def add(self, chunk: ChunkResult) -> None:
        """Count one more appended chunk (the caller records the stream sizes)."""
        self.appended += 1
        for s in SPLITS:
            self.documents[s] += chunk.documents[s]
        self.records += chunk.records
        self.empty += chunk.empty
        self.text_bytes += chunk.text_bytes
        self.malformed += chunk.malformed
        room = MAX_NAMED - len(self.malformed_examples)
        self.malformed_examples += chunk.malformed_examples[: max(0, room)]


def fingerprint(files: list[str], config: TokenizeConfig, given_tokenizer_sha: str | None) -> dict:
    """What must not change between attempts: the inputs and the config fields that shape the output."""
    inputs = []
    for path in files:
        st = os.stat(path)
        inputs.append([os.path.abspath(path), st.st_size, st.st_mtime_ns])
    return {
        "work_format": WORK_FORMAT,
        "config": config.model_dump(mode="json", exclude=_NOT_IN_FINGERPRINT),
        "given_tokenizer_sha256": given_tokenizer_sha,
        "inputs": inputs,
    }


def _write_json(path: Path, obj: object) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=1) + "\n").encode())


def _read_json(path: Path) -> object | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class WorkDir:
    """``.<out>.work/`` and what an attempt keeps in it (see the module docstring)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out.parent / f".{out.name}.work"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's lock: a second tokenize into the same output fails instead of mixing files."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / _LOCK, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(
                    f"another process is tokenizing into {self.out} "
                    f"(it holds {self.path / _LOCK}); wait for it to finish"
                ) from None
            yield

    def prepare(self, expected: dict) -> bool:
        """True when an earlier attempt with this fingerprint left its plan here (resume); otherwise the
        directory is emptied and stamped with the fingerprint (a fresh start)."""
        if _read_json(self.path / "fingerprint.json") == expected and self.load_plan() is not None:
            return True
        for entry in self.path.iterdir():
            if entry.name == _LOCK:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        _write_json(self.path / "fingerprint.json", expected)
        return False

    def load_plan(self) -> list[Chunk] | None:
        raw = _read_json(self.path / "plan.json")
        return [Chunk(**c) for c in raw] if isinstance(raw, list) else None

    def save_plan(self, chunks: list[Chunk]) -> None:
        _write_json(self.path / "plan.json", [asdict(c) for c in chunks])

    def load_tokenizer(self) -> bytes | None:
        path = self.path / "tokenizer.json"
        return path.read_bytes() if path.exists() else None

    def save_tokenizer(self, data: bytes) -> None:
        write_bytes_atomic(self.path / "tokenizer.json", data)

    def stream(self, split: str) -> Path:
        return self.path / f"{split}.stream.bin"

    def load_progress(self) -> StreamProgress:
        raw = _read_json(self.path / "progress.json")
        return StreamProgress(**raw) if isinstance(raw, dict) else StreamProgress()

    def save_progress(self, progress: StreamProgress) -> None:
        _write_json(self.path / "progress.json", asdict(progress))

    def reset_streams(self, progress: StreamProgress) -> None:
        """Cut each stream back to its recorded size: drops a half-appended chunk or a tail's padding."""
        for s in SPLITS:
            with open(self.stream(s), "ab") as f:
                f.truncate(progress.sizes[s])

    def _done_path(self, index: int) -> Path:
        return self.path / f"chunk-{index:06d}.done.json"

    def finished_chunk(self, index: int) -> ChunkResult | None:
        """The counts of a chunk an earlier attempt encoded but did not append, or None."""
        raw = _read_json(self._done_path(index))
        files_there = all(os.path.exists(chunk_path(str(self.path), index, s)) for s in SPLITS)
        return ChunkResult(**raw) if isinstance(raw, dict) and files_there else None

    def mark_finished(self, chunk: ChunkResult) -> None:
        """Record an encoded chunk's counts (its token files are already in place)."""
        _write_json(self._done_path(chunk.index), asdict(chunk))

    def drop_chunk(self, index: int) -> None:
        """Delete an appended chunk's files."""
        for s in SPLITS:
            Path(chunk_path(str(self.path), index, s)).unlink(missing_ok=True)
        self._done_path(index).unlink(missing_ok=True)

    def drop_appended(self, appended: int) -> None:
        """Delete files of chunks below ``appended`` that a kill left behind (appended, not yet deleted),
        and the temporaries of chunk files whose encode task a kill cut short."""
        for entry in self.path.glob("chunk-*"):
            index = int(entry.name[6:12])
            if index < appended:
                entry.unlink(missing_ok=True)
        for entry in self.path.glob(".chunk-*"):
            if TEMPORARY_NAME.fullmatch(entry.name):
                entry.unlink(missing_ok=True)

    def fresh_staging(self) -> Path:
        """An empty ``staging/`` for this attempt's output."""
        staging = self.path / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        return staging

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
