"""The one writer of the tokens/ contract: shards (a split's token stream → shuffled rows of seq_len + 1
→ Arrow IPC stream shards), the manifest that lists them (`tokens_manifest`) and the directory's
metadata files, `manifest.json` and `tokenizer.json` (`write_metadata`; their names `MANIFEST` and
`TOKENIZER_FILE` are what every reader looks for).

The stream lives in a flat int32 file of (rows, seq_len + 1) tokens; the shuffle reads each shard's rows
from it with positioned reads, so peak memory is one shard whatever the corpus size. Rows that are
already packed (the trainer's sample and synthetic token sets) go through `write_rows`, so every
tokens/ directory has the same shard format and manifest keys.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from kit.files import atomic_write, file_sha256, write_bytes_atomic
from tokenization.encode import TOKEN_DTYPE

COLUMN = "input_ids"
# The metadata files of a tokens/ directory (beside `<split>/shard-*.arrow`).
MANIFEST = "manifest.json"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1
SCHEMA = pa.schema([pa.field(COLUMN, pa.list_(pa.int32()), nullable=False)])
# Distinguishes the shuffle stream of each split from the other uses of the seed.
_SPLIT_SALT = {"train": 1, "val": 2}


@dataclass
class SplitPack:
    """What was written for one split (becomes manifest["splits"][split])."""

    rows: int = 0
    tokens: int = 0  # tokens in the written rows (including padding when tail="pad")
    documents: int = 0
    dropped_tokens: int = 0
    pad_tokens: int = 0
    shards: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "tokens": self.tokens,
            "documents": self.documents,
            "dropped_tokens": self.dropped_tokens,
            "pad_tokens": self.pad_tokens,
            "shards": self.shards,
        }


def append_file(dst, src_path: str) -> None:
    """Stream one chunk file onto the split stream (bounded memory)."""
    with open(src_path, "rb") as src:
        shutil.copyfileobj(src, dst, length=8 * 2**20)


def rows_to_table(rows: np.ndarray) -> pa.Table:
    """(n, row_len) int32 → table with one ``list<int32>`` column, zero-copy on the values."""
    n, row_len = rows.shape
    values = pa.array(np.ascontiguousarray(rows, dtype=np.int32).reshape(-1), type=pa.int32())
    offsets = pa.array(np.arange(0, (n + 1) * row_len, row_len, dtype=np.int32), type=pa.int32())
    arr = pa.ListArray.from_arrays(offsets, values, type=pa.list_(pa.int32()))
    return pa.Table.from_arrays([arr], schema=SCHEMA)


def write_ipc(path: str, rows: np.ndarray) -> None:
    """Uncompressed Arrow IPC in the *streaming* format: it is what ``datasets.Dataset.from_file``
    reads (it calls ``pa.ipc.open_stream``; the footer-bearing file format fails there) and a
    memory-mapped ``pa.ipc.open_stream`` still reads it zero-copy."""
    with atomic_write(path) as sink, pa.ipc.new_stream(sink, SCHEMA) as writer:
        writer.write_table(rows_to_table(rows))


def _gather_rows(stream_path: str, idx: np.ndarray, row_len: int) -> np.ndarray:
    """Copy rows ``idx`` of the stream file with one ``preadv`` per row into a new array.

    Not a memory map: the kernel maps read-ahead/fault-around pages with every touched row, so a
    shuffled gather would make the whole stream resident; here peak memory is exactly one shard."""
    out = np.empty((len(idx), row_len), dtype=TOKEN_DTYPE)
    row_bytes = row_len * TOKEN_DTYPE.itemsize
    fd = os.open(stream_path, os.O_RDONLY)
    try:
        for j, r in enumerate(idx.tolist()):
            if os.preadv(fd, [out[j]], r * row_bytes) != row_bytes:
                raise OSError(f"short read from {stream_path} at row {r}")
    finally:
        os.close(fd)
    return out


def pack_split(
    stream_path: str,
    out_dir: str,
    split: str,
    *,
    row_len: int,
    rows_per_shard: int,
    seed: int,
    tail: str,
    pad_id: int | None,
) -> SplitPack:
    """Cut the stream into rows, shuffle them with the seed, write ``<out_dir>/<split>/shard-NNNNN.arrow``."""
    n_tokens = os.path.getsize(stream_path) // TOKEN_DTYPE.itemsize
    result = SplitPack()
    full_rows, rem = divmod(n_tokens, row_len)
    if rem and tail == "pad":
        if pad_id is None:
            raise ValueError("tail='pad' needs a PAD token id")
        with open(stream_path, "ab") as f:
            f.write(np.full(row_len - rem, pad_id, dtype=TOKEN_DTYPE).tobytes())
        result.pad_tokens = row_len - rem
        full_rows += 1
    else:
        result.dropped_tokens = rem
    result.rows = full_rows
    result.tokens = full_rows * row_len
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    if full_rows == 0:
        return result
    perm = np.random.Generator(np.random.PCG64([seed, _SPLIT_SALT[split]])).permutation(full_rows)
    for s, a in enumerate(range(0, full_rows, rows_per_shard)):
        idx = perm[a : a + rows_per_shard]
        rel = f"{split}/shard-{s:05d}.arrow"
        path = os.path.join(out_dir, rel)
        write_ipc(path, _gather_rows(stream_path, idx, row_len))
        result.shards.append(
            {"path": rel, "rows": len(idx), "tokens": len(idx) * row_len, "sha256": file_sha256(path)}
        )
    return result


def write_rows(out_dir: str, split: str, rows: np.ndarray) -> SplitPack:
    """Already packed rows (n, seq_len + 1) as ``<out_dir>/<split>/shard-00000.arrow``, in the order given."""
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    rel = f"{split}/shard-00000.arrow"
    path = os.path.join(out_dir, rel)
    write_ipc(path, rows)
    n, row_len = rows.shape
    shard = {"path": rel, "rows": n, "tokens": n * row_len, "sha256": file_sha256(path)}
    return SplitPack(rows=n, tokens=n * row_len, shards=[shard])


def tokens_manifest(
    *,
    seq_len: int,
    vocab_size: int,
    specials: dict[str, int | bool | None],
    tokenizer_sha256: str,
    seed: int,
    val_fraction: float,
    tail: str,
    document_order: str,
    splits: dict[str, SplitPack],
    source_run: str,
) -> dict:
    """manifest.json of a tokens/ directory (docs/ARCHITECTURE.md, "Tokenized dataset").

    `specials`: bos_id, eos_id, pad_id (None when the tokenizer has none) and add_bos."""
    return {
        "format_version": FORMAT_VERSION,
        "shard_format": "arrow-ipc-stream",
        "column": COLUMN,
        "seq_len": seq_len,
        "row_len": seq_len + 1,
        "vocab_size": vocab_size,
        "bos_id": specials["bos_id"],
        "eos_id": specials["eos_id"],
        "pad_id": specials["pad_id"],
        "add_bos": specials["add_bos"],
        "tokenizer": TOKENIZER_FILE,
        "tokenizer_sha256": tokenizer_sha256,
        "seed": seed,
        "val_fraction": val_fraction,
        "tail": tail,
        "document_order": document_order,
        "splits": {name: pack.to_dict() for name, pack in splits.items()},
        "total_tokens": sum(pack.tokens for pack in splits.values()),
        "source_run": source_run,
    }


def write_metadata(directory: str | os.PathLike, tokenizer: bytes | str, manifest: dict) -> None:
    """Write a tokens/ directory's `tokenizer.json` (its bytes; text is written as UTF-8) and then its
    `manifest.json` (`tokens_manifest`'s dict, indented by 2, one final newline), each atomically."""
    data = tokenizer.encode("utf-8") if isinstance(tokenizer, str) else tokenizer
    write_bytes_atomic(os.path.join(directory, TOKENIZER_FILE), data)
    write_bytes_atomic(os.path.join(directory, MANIFEST), (json.dumps(manifest, indent=2) + "\n").encode())
