"""Configuration of the tokenize stage (embedded by the pipeline config under ``tokenize:``)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TokenizerConfig(BaseModel):
    """Either train a byte-level BPE (``path`` unset) or load a local ``tokenizer.json``.

    Special tokens are named, not numbered, so a loaded tokenizer can map them to its own ids;
    EOS is mandatory because it is what separates packed documents.
    """

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, description="local tokenizer.json, or a directory holding one")
    vocab_size: int = Field(default=32000, ge=300, description="BPE vocabulary size when training")
    min_frequency: int = Field(default=2, ge=1, description="minimum pair count for a BPE merge")
    bos_token: str | None = "<|bos|>"
    eos_token: str = "<|eos|>"
    pad_token: str | None = "<|pad|>"
    add_bos: bool = Field(default=False, description="insert BOS at the start of every document")
    sample_bytes: int = Field(default=200_000_000, ge=1, description="cap on training-sample text bytes")
    sample_documents: int | None = Field(default=None, ge=1, description="cap on training-sample documents")

    @model_validator(mode="after")
    def _check_specials(self) -> TokenizerConfig:
        names = [t for t in (self.bos_token, self.eos_token, self.pad_token) if t is not None]
        if any(not t for t in names):
            raise ValueError("special token names must be non-empty strings")
        if len(set(names)) != len(names):
            raise ValueError(f"bos/eos/pad token names must differ, got {names}")
        if self.add_bos and self.bos_token is None:
            raise ValueError("add_bos=true needs a bos_token")
        return self


class TokenizeConfig(BaseModel):
    """Packing, split, sharding and parallelism of `tokenize_to_dir` (the tokenize stage, `winnow tokenize`).

    Everything that changes the output bytes is here (tokenizer, seq_len, val_fraction, seed,
    shard size, tail); the parallelism knobs (``num_workers``, ``docs_per_task``, ``batch_size``)
    never change the output.
    """

    model_config = ConfigDict(extra="forbid")

    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    seq_len: int = Field(default=2048, ge=1, description="model context; rows hold seq_len + 1 tokens")
    val_fraction: float = Field(default=0.01, ge=0.0, lt=1.0, description="share of documents in val")
    seed: int = Field(default=0, ge=0, description="drives the train/val split and the row shuffle")
    shard_rows: int | None = Field(default=None, ge=1, description="rows per shard (overrides shard_mb)")
    shard_mb: float = Field(default=256.0, gt=0, description="target shard size in MiB")
    tail: Literal["drop", "pad"] = Field(
        default="drop", description="the last partial row of a split: dropped (counted) or padded with PAD"
    )
    batch_size: int = Field(
        default=256, ge=1, description="documents per encode_batch call (bounds a task's Encoding objects)"
    )
    docs_per_task: int | None = Field(
        default=None, ge=1, description="documents per Ray task (auto if unset)"
    )
    num_workers: int | None = Field(
        default=None, ge=1, description="concurrent Ray tasks (cluster CPUs if unset)"
    )
    text_column: str = "text"
    id_column: str = "id"

    @model_validator(mode="after")
    def _check_tail(self) -> TokenizeConfig:
        if self.tail == "pad" and self.tokenizer.pad_token is None:
            raise ValueError("tail='pad' needs tokenizer.pad_token")
        return self

    @property
    def row_len(self) -> int:
        """Tokens per row: inputs are row[:-1], targets row[1:]."""
        return self.seq_len + 1

    def rows_per_shard(self) -> int:
        if self.shard_rows is not None:
            return self.shard_rows
        return max(1, math.floor(self.shard_mb * 2**20 / (4 * self.row_len)))
