"""The Ray task: read one chunk, split its documents train/val, encode, write flat token streams.

Each task writes ``chunk-<index>.<split>.bin`` (little-endian int32: per document [BOS] tokens EOS,
in input order) so the driver only concatenates files in chunk order and never holds the corpus.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
from tokenizers import Tokenizer

from kit.files import atomic_write
from kit.jsonl import MAX_NAMED
from tokenization.inputs import Chunk, read_chunk_checked
from tokenization.tokenizer import SpecialIds

SPLITS = ("train", "val")
TOKEN_DTYPE = np.dtype("<i4")

# One deserialized tokenizer per worker process, keyed by its sha256 (loading costs ~0.1 s).
_TOKENIZER_CACHE: dict[str, Tokenizer] = {}


@dataclass
class ChunkResult:
    index: int
    records: int  # documents read, including empty ones
    documents: dict[str, int]
    tokens: dict[str, int]
    empty: int  # documents with null/empty text, skipped
    text_bytes: int
    malformed: int = 0  # JSONL lines that are not documents (not JSON, not an object), skipped
    malformed_examples: list[str] = field(default_factory=list)  # the first MAX_NAMED of them


def is_val(doc_id: str, seed: int, val_fraction: float) -> bool:
    """Split by a hash of (seed, id): independent of sharding, chunking and worker count."""
    if val_fraction <= 0.0:
        return False
    h = hashlib.blake2b(f"{seed}\x00{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") < val_fraction * 2**64


def pack_documents(docs: list[list[int]], specials: SpecialIds) -> np.ndarray:
    """``[BOS] ids EOS`` per document, concatenated into one int32 array without a Python list of
    all tokens: the ids are copied once (``np.fromiter``) and the specials placed by offset."""
    lens = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    extra = 2 if specials.add_bos else 1
    ends = np.cumsum(lens + extra)  # one past each document's EOS
    out = np.empty(int(ends[-1]) if len(ends) else 0, dtype=TOKEN_DTYPE)
    is_token = np.ones(len(out), dtype=bool)
    is_token[ends - 1] = False
    out[ends - 1] = specials.eos
    if specials.add_bos:
        starts = ends - lens - 2
        is_token[starts] = False
        out[starts] = specials.bos
    out[is_token] = np.fromiter(chain.from_iterable(docs), dtype=TOKEN_DTYPE, count=int(lens.sum()))
    return out


def chunk_path(tmp_dir: str, index: int, split: str) -> str:
    return os.path.join(tmp_dir, f"chunk-{index:06d}.{split}.bin")


def _tokenizer(sha: str, tok_json: str) -> Tokenizer:
    tok = _TOKENIZER_CACHE.get(sha)
    if tok is None:
        tok = Tokenizer.from_str(tok_json)
        _TOKENIZER_CACHE.clear()
        _TOKENIZER_CACHE[sha] = tok
    return tok


def encode_chunk(
    chunk: Chunk,
    tok_sha: str,
    tok_json: str,
    specials: SpecialIds,
    *,
    id_column: str,
    text_column: str,
    seed: int,
    val_fraction: float,
    batch_size: int,
    tmp_dir: str,
) -> ChunkResult:
    """Encode one chunk into per-split token files; the body of the Ray task."""
    tok = _tokenizer(tok_sha, tok_json)
    ids, texts, bad = read_chunk_checked(chunk, id_column, text_column)
    keep_texts: list[str] = []
    keep_split: list[bool] = []
    empty = 0
    text_bytes = 0
    for doc_id, text in zip(ids, texts, strict=True):
        if not text:
            empty += 1
            continue
        keep_texts.append(text)
        keep_split.append(is_val(doc_id, seed, val_fraction))
        text_bytes += len(text.encode("utf-8"))
    documents = {s: 0 for s in SPLITS}
    tokens = {s: 0 for s in SPLITS}
    paths = {s: chunk_path(tmp_dir, chunk.index, s) for s in SPLITS}
    # Atomic writes: a killed task leaves only temporaries (`kit.files.TEMPORARY_NAME`), never a
    # short chunk file under its final name.
    with contextlib.ExitStack() as stack:
        files = {s: stack.enter_context(atomic_write(paths[s], "wb")) for s in SPLITS}
        # Written batch by batch: a task holds one batch of token ids, not its whole chunk.
        for a in range(0, len(keep_texts), batch_size):
            encs = tok.encode_batch_fast(keep_texts[a : a + batch_size], add_special_tokens=False)
            by_split: dict[str, list[list[int]]] = {s: [] for s in SPLITS}
            for enc, val in zip(encs, keep_split[a : a + batch_size], strict=True):
                by_split["val" if val else "train"].append(enc.ids)
            for split, docs in by_split.items():
                if docs:
                    stream = pack_documents(docs, specials)
                    files[split].write(memoryview(stream))
                    documents[split] += len(docs)
                    tokens[split] += len(stream)
    examples = [str(b) for b in bad[:MAX_NAMED]]
    return ChunkResult(chunk.index, len(ids), documents, tokens, empty, text_bytes, len(bad), examples)
