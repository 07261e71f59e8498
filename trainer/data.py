"""Batches for training and evaluation, read through the tokenization reader (the tokens/ contract)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from tokenization.reader import GlobalBatchSampler, TokenDataset


def open_split(tokens_dir: str | Path, split: str, verify: bool = False) -> TokenDataset | None:
    """The split, or None when the manifest has no such split or it is empty (e.g. no val rows)."""
    try:
        ds = TokenDataset(tokens_dir, split=split, verify=verify)
    except (KeyError, FileNotFoundError):
        if split == "train":
            raise
        return None
    return ds if len(ds) > 0 else None


class TrainBatches:
    """Global-step batches for this rank; the sampler's state is the exact data cursor for resume."""

    def __init__(self, ds: TokenDataset, global_batch: int, seed: int, rank: int, world: int) -> None:
        self.ds = ds
        self.sampler = GlobalBatchSampler(len(ds), global_batch, seed, rank=rank, world_size=world)
        self._it: Iterator[np.ndarray] | None = None

    def state_dict(self) -> dict:
        return dict(self.sampler.state_dict())

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict({k: int(v) for k, v in state.items()})
        self._it = None

    def next(self) -> torch.Tensor:
        """Rows [G/W, seq_len + 1] (int64) of the next global step for this rank."""
        if self._it is None:
            self._it = iter(self.sampler)
        rows = next(self._it)
        return torch.from_numpy(np.ascontiguousarray(self.ds.take(rows), dtype=np.int64))


class ValSet:
    """A fixed slice of the val split for this rank, with each row's target byte count for bits per byte.

    Bytes come from decoding each row's target tokens with tokens/tokenizer.json (special tokens such as EOS
    decode to nothing and count 0 bytes), so bpb = Σ NLL / (ln 2 · Σ bytes) is independent of the tokenizer."""

    def __init__(self, ds: TokenDataset, max_rows: int, rank: int, world: int) -> None:
        from tokenizers import Tokenizer

        n = min(len(ds), max_rows)
        rows = np.arange(n)[rank::world]
        self.rows = torch.from_numpy(np.ascontiguousarray(ds.take(rows), dtype=np.int64))
        tok = Tokenizer.from_file(str(ds.tokenizer_path))
        self.bytes = [
            len(tok.decode(r[1:].tolist(), skip_special_tokens=True).encode("utf-8")) for r in self.rows
        ]

    def batches(self, micro: int) -> Iterator[tuple[torch.Tensor, int]]:
        for i in range(0, len(self.rows), micro):
            yield self.rows[i : i + micro], sum(self.bytes[i : i + micro])
