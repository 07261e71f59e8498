"""winnow tokenization: byte-level BPE, tokenizing on Ray (`tokenize_to_dir`), packed Arrow shards, their reader.

Import the reader (``tokenization.reader``) without pulling in Ray: the heavy modules load lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokenization.config import TokenizeConfig, TokenizerConfig

if TYPE_CHECKING:
    from tokenization.errors import CorpusTooSmallError, EmptyCorpusError, TokenizeInputError
    from tokenization.reader import GlobalBatchSampler, TokenDataset
    from tokenization.to_dir import TokenizeStats, tokenize_to_dir
    from tokenization.tokenizer import load_tokenizer, train_tokenizer

_LAZY = {
    "tokenize_to_dir": "tokenization.to_dir",
    "TokenizeStats": "tokenization.to_dir",
    "EmptyCorpusError": "tokenization.errors",
    "CorpusTooSmallError": "tokenization.errors",
    "TokenizeInputError": "tokenization.errors",
    "train_tokenizer": "tokenization.tokenizer",
    "load_tokenizer": "tokenization.tokenizer",
    "TokenDataset": "tokenization.reader",
    "GlobalBatchSampler": "tokenization.reader",
}

__all__ = [
    "CorpusTooSmallError",
    "EmptyCorpusError",
    "GlobalBatchSampler",
    "TokenDataset",
    "TokenizeConfig",
    "TokenizeInputError",
    "TokenizeStats",
    "TokenizerConfig",
    "load_tokenizer",
    "tokenize_to_dir",
    "train_tokenizer",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tokenization' has no attribute {name!r}")
