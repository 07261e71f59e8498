"""Errors `tokenize_to_dir` raises for bad input (so callers can report them without a traceback)."""

from __future__ import annotations


class TokenizeInputError(ValueError):
    """The inputs cannot make a tokenized dataset; the message says what to change."""


class EmptyCorpusError(TokenizeInputError):
    """No document with text was found in the tokenize inputs."""


class CorpusTooSmallError(TokenizeInputError):
    """The documents do not fill one training row of seq_len + 1 tokens."""
