"""A small, self-contained writer of the tokens/ contract for tests, benchmarks and the GPU check.

The pipeline's tokens come from `tokenization/`; this exists so the trainer can be exercised on real text
(a byte-level BPE trained on the spot) or synthetic ids without Ray or a pipeline run. It writes exactly the
contract: manifest.json, tokenizer.json, {train,val}/shard-00000.arrow (Arrow IPC file, input_ids list<int32>,
rows of seq_len + 1 tokens, documents joined with EOS and packed)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

EOS = "<|endoftext|>"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_rows(path: Path, rows: np.ndarray) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    n, width = rows.shape
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * width, type=pa.int32())
    col = pa.ListArray.from_arrays(offsets, pa.array(rows.reshape(-1).astype(np.int32), type=pa.int32()))
    table = pa.table({"input_ids": col})
    tmp = path.with_name(path.name + ".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    os.replace(tmp, path)
    return {
        "path": str(path.relative_to(path.parent.parent)),
        "rows": n,
        "tokens": int(n * width),
        "sha256": _sha256(path),
    }


def write_token_rows(
    out_dir: str | Path,
    train: np.ndarray,
    val: np.ndarray,
    tokenizer_json: str,
    vocab_size: int,
    eos_id: int,
    source: str = "sample",
) -> Path:
    """Write pre-packed rows [n, seq_len + 1] for both splits plus tokenizer and manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
    splits = {}
    for name, rows in (("train", train), ("val", val)):
        shard = _write_rows(out / name / "shard-00000.arrow", rows)
        splits[name] = {"shards": [shard], "rows": shard["rows"], "tokens": shard["tokens"]}
    manifest = {
        "format_version": 1,
        "tokenizer": "tokenizer.json",
        "tokenizer_sha256": _sha256(out / "tokenizer.json"),
        "vocab_size": int(vocab_size),
        "seq_len": int(train.shape[1] - 1),
        "bos_id": None,
        "eos_id": int(eos_id),
        "pad_id": None,
        "splits": splits,
        "total_tokens": int(sum(s["tokens"] for s in splits.values())),
        "source_run": source,
    }
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, out / "manifest.json")
    return out


def bpe_tokens_dir(
    out_dir: str | Path,
    docs: Sequence[str],
    vocab_size: int,
    seq_len: int,
    val_fraction: float = 0.05,
    seed: int = 0,
) -> Path:
    """Train a byte-level BPE on `docs`, encode, join with EOS, pack into rows, split train/val by row."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(docs, trainer=trainer)
    eos = tok.token_to_id(EOS)
    ids = []
    for enc in tok.encode_batch(list(docs)):
        ids.extend(enc.ids)
        ids.append(eos)
    flat = np.asarray(ids, dtype=np.int32)
    n_rows = len(flat) // (seq_len + 1)
    rows = flat[: n_rows * (seq_len + 1)].reshape(n_rows, seq_len + 1)
    order = np.random.Generator(np.random.PCG64(seed)).permutation(n_rows)
    n_val = max(1, int(n_rows * val_fraction))
    return write_token_rows(
        out_dir,
        rows[order[n_val:]],
        rows[order[:n_val]],
        tok.to_str(),
        tok.get_vocab_size(),
        eos,
        "bpe-sample",
    )


def synthetic_tokens_dir(
    out_dir: str | Path, vocab_size: int, seq_len: int, rows: int, val_rows: int, seed: int = 0
) -> Path:
    """Random ids (Zipf-like) for throughput measurements; the tokenizer is a trivial word-level one."""
    from tokenizers import Tokenizer, models

    rng = np.random.Generator(np.random.PCG64(seed))
    p = 1.0 / np.arange(1, vocab_size + 1)
    p /= p.sum()
    data = rng.choice(vocab_size, size=(rows + val_rows, seq_len + 1), p=p).astype(np.int32)
    vocab = {f"t{i}": i for i in range(vocab_size)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t0"))
    return write_token_rows(out_dir, data[:rows], data[rows:], tok.to_str(), vocab_size, 0, "synthetic")
