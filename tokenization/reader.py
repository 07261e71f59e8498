"""The trainer's view of a tokens/ directory: memory-mapped rows and a resumable global batch order.

``TokenDataset`` maps every shard of a split (zero-copy Arrow IPC) and serves rows by global index;
``GlobalBatchSampler`` fixes one global sample order per (seed, epoch) that every rank slices, so the
order of samples seen by the whole job is the same for any world size and survives resume.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from kit.files import file_sha256
from tokenization.pack import MANIFEST, TOKENIZER_FILE

__all__ = ["GlobalBatchSampler", "TokenDataset"]


class TokenDataset:
    """Rows of one split as int32 arrays of length ``seq_len + 1`` (inputs ``[:-1]``, targets ``[1:]``).

    ``verify=True`` hashes every shard (and the tokenizer) against the manifest before use; a
    mismatch raises ``ValueError`` naming the file and both checksums.
    """

    def __init__(self, tokens_dir: str | os.PathLike, split: str = "train", verify: bool = False) -> None:
        self.tokens_dir = Path(tokens_dir)
        self.split = split
        self.verify = verify
        manifest_path = self.tokens_dir / MANIFEST
        if not manifest_path.is_file():
            raise FileNotFoundError(f"no {MANIFEST} in {self.tokens_dir}")
        self.manifest: dict = json.loads(manifest_path.read_text())
        splits = self.manifest.get("splits", {})
        if split not in splits:
            raise KeyError(f"split {split!r} not in {manifest_path} (splits: {sorted(splits)})")
        self.seq_len: int = int(self.manifest["seq_len"])
        self.row_len: int = self.seq_len + 1
        self.vocab_size: int = int(self.manifest["vocab_size"])
        self.eos_id: int = int(self.manifest["eos_id"])
        self.bos_id: int | None = self.manifest.get("bos_id")
        self.pad_id: int | None = self.manifest.get("pad_id")
        self.tokenizer_path: Path = self.tokens_dir / self.manifest.get("tokenizer", TOKENIZER_FILE)
        self._shards: list[dict] = list(splits[split]["shards"])
        if verify:
            self._verify()
        self._open()

    def _verify(self) -> None:
        expected_tok = self.manifest.get("tokenizer_sha256")
        if expected_tok and self.tokenizer_path.is_file():
            actual = file_sha256(self.tokenizer_path)
            if actual != expected_tok:
                raise ValueError(
                    f"corrupted tokenizer {self.tokenizer_path}: sha256 mismatch "
                    f"(expected {expected_tok}, actual {actual})"
                )
        for shard in self._shards:
            path = self.tokens_dir / shard["path"]
            if not path.is_file():
                raise FileNotFoundError(f"missing shard {path} (listed in manifest.json)")
            actual = file_sha256(path)
            if actual != shard["sha256"]:
                raise ValueError(
                    f"corrupted shard {path}: sha256 mismatch (expected {shard['sha256']}, actual {actual})"
                )

    def _open(self) -> None:
        """Memory-map every shard; each record batch becomes a read-only (rows, row_len) view."""
        self._maps: list[pa.MemoryMappedFile] = []
        self._blocks: list[np.ndarray] = []
        starts = [0]
        for shard in self._shards:
            path = self.tokens_dir / shard["path"]
            if not path.is_file():
                raise FileNotFoundError(f"missing shard {path} (listed in manifest.json)")
            try:
                source = pa.memory_map(str(path), "r")
                batches = list(pa.ipc.open_stream(source))  # the one writer's format (tokenization.pack)
            except (pa.ArrowInvalid, OSError) as e:
                raise ValueError(
                    f"cannot read shard {path}: {e} (expected sha256 {shard['sha256']}; "
                    "open with verify=True to compare checksums)"
                ) from e
            self._maps.append(source)
            n_rows = 0
            for batch in batches:
                block = self._batch_rows(batch, path)
                self._blocks.append(block)
                n_rows += len(block)
                starts.append(starts[-1] + len(block))
            if n_rows != shard["rows"]:
                raise ValueError(f"shard {path} has {n_rows} rows, manifest says {shard['rows']}")
        self._starts = np.asarray(starts, dtype=np.int64)

    def _batch_rows(self, batch: pa.RecordBatch, path: Path) -> np.ndarray:
        col = batch.column(batch.schema.get_field_index("input_ids"))
        if pa.types.is_fixed_size_list(col.type):
            values = col.values.to_numpy(zero_copy_only=True)
            start = col.offset * self.row_len
            flat = values[start : start + len(col) * self.row_len]
        elif pa.types.is_list(col.type) and pa.types.is_int32(col.type.value_type):
            offsets = col.offsets.to_numpy(zero_copy_only=True)
            expected = offsets[0] + np.arange(len(col) + 1, dtype=np.int64) * self.row_len
            if not np.array_equal(offsets, expected):
                raise ValueError(f"shard {path}: rows are not all seq_len + 1 = {self.row_len} tokens")
            flat = col.values.to_numpy(zero_copy_only=True)[offsets[0] : offsets[-1]]
        else:
            raise ValueError(f"shard {path}: input_ids has type {col.type}, expected list<int32>")
        if col.null_count:
            raise ValueError(f"shard {path}: input_ids has null rows")
        return flat.reshape(len(col), self.row_len)

    def __getstate__(self) -> dict:
        # Memory maps do not pickle (DataLoader workers): reopen them on the other side.
        return {"tokens_dir": self.tokens_dir, "split": self.split}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["tokens_dir"], state["split"], verify=False)

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def shard_paths(self) -> list[Path]:
        return [self.tokens_dir / s["path"] for s in self._shards]

    def _locate(self, rows: np.ndarray) -> np.ndarray:
        n = len(self)
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise IndexError(f"row index out of range for split {self.split!r} with {n} rows")
        return np.searchsorted(self._starts, rows, side="right") - 1

    def __getitem__(self, i: int) -> np.ndarray:
        i = int(i)
        if i < 0:
            i += len(self)
        b = int(self._locate(np.asarray([i], dtype=np.int64))[0])
        return np.array(self._blocks[b][i - self._starts[b]], dtype=np.int32)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the given order as a new (len(rows), seq_len + 1) int32 array."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        blocks = self._locate(rows)
        out = np.empty((len(rows), self.row_len), dtype=np.int32)
        for b in np.unique(blocks):
            m = blocks == b
            out[m] = self._blocks[b][rows[m] - self._starts[b]]
        return out


class GlobalBatchSampler:
    """Per epoch a permutation of all rows from ``PCG64(seed + epoch)``; global step k is
    ``perm[k*G:(k+1)*G]`` (a partial last batch is dropped) and rank r takes its contiguous
    ``G/W`` slice. ``state_dict`` is rank-independent, so a job can resume on another world size."""

    def __init__(
        self, num_rows: int, global_batch_size: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        if global_batch_size < 1 or world_size < 1:
            raise ValueError("global_batch_size and world_size must be >= 1")
        if global_batch_size % world_size:
            raise ValueError(
                f"global_batch_size {global_batch_size} is not divisible by world_size {world_size}"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside [0, {world_size})")
        if num_rows < global_batch_size:
            raise ValueError(f"{num_rows} rows cannot fill one global batch of {global_batch_size}")
        self.num_rows = int(num_rows)
        self.global_batch_size = int(global_batch_size)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.local_batch_size = self.global_batch_size // self.world_size
        self.epoch = 0
        self.cursor = 0
        self._perm_epoch: int | None = None
        self._perm: np.ndarray | None = None

    @property
    def steps_per_epoch(self) -> int:
        return self.num_rows // self.global_batch_size

    def permutation(self, epoch: int) -> np.ndarray:
        """The global row order of ``epoch`` (cached for the current one)."""
        if self._perm_epoch != epoch:
            self._perm = np.random.Generator(np.random.PCG64(self.seed + epoch)).permutation(self.num_rows)
            self._perm_epoch = epoch
        assert self._perm is not None
        return self._perm

    def __iter__(self) -> Iterator[np.ndarray]:
        g, lo = self.global_batch_size, self.rank * self.local_batch_size
        while True:
            if self.cursor + g > self.num_rows:
                self.epoch += 1
                self.cursor = 0
            perm = self.permutation(self.epoch)
            batch = perm[self.cursor + lo : self.cursor + lo + self.local_batch_size]
            self.cursor += g  # consumed before yielding: state_dict() after a batch resumes after it
            yield batch.copy()

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict) -> None:
        epoch, cursor = int(state["epoch"]), int(state["cursor"])
        if epoch < 0 or not 0 <= cursor <= self.num_rows:
            raise ValueError(f"invalid sampler state {state} for {self.num_rows} rows")
        self.epoch, self.cursor = epoch, cursor
