"""Small tokens/ directories for tests, benchmarks and the GPU check, written by the pipeline's own writer.

The pipeline's tokens come from `tokenization/`; this exists so the trainer can be exercised on real text
(a byte-level BPE trained on the spot) or synthetic ids without Ray or a pipeline run. Shards and manifest go
through `tokenization.pack` (`write_rows`, `tokens_manifest`, `write_metadata`), so these directories follow exactly the
contract a pipeline run writes (Arrow IPC stream shards, the same manifest keys)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tokenization.pack import tokens_manifest, write_metadata, write_rows

EOS = "<|endoftext|>"


def write_token_rows(
    out_dir: str | Path,
    train: np.ndarray,
    val: np.ndarray,
    tokenizer_json: str,
    vocab_size: int,
    eos_id: int,
    source: str = "sample",
    seed: int = 0,
) -> Path:
    """Write pre-packed rows [n, seq_len + 1] for both splits plus tokenizer and manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = {name: write_rows(str(out), name, rows) for name, rows in (("train", train), ("val", val))}
    manifest = tokens_manifest(
        seq_len=int(train.shape[1] - 1),
        vocab_size=int(vocab_size),
        specials={"bos_id": None, "eos_id": int(eos_id), "pad_id": None, "add_bos": False},
        tokenizer_sha256=hashlib.sha256(tokenizer_json.encode("utf-8")).hexdigest(),
        seed=seed,
        val_fraction=round(len(val) / max(len(train) + len(val), 1), 6),
        tail="drop",
        document_order=f"{source}: documents joined with EOS and packed, rows shuffled by the seed",
        splits=splits,
        source_run=source,
    )
    write_metadata(out, tokenizer_json, manifest)
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
        seed,
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
    return write_token_rows(out_dir, data[:rows], data[rows:], tok.to_str(), vocab_size, 0, "synthetic", seed)
