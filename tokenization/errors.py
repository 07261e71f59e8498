"""Errors the tokenize stage raises for bad input (so callers can report them without a traceback)."""

from __future__ import annotations


class EmptyCorpusError(ValueError):
    """No document with text was found in the tokenize inputs."""
