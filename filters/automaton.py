"""Literal multi-pattern search: one Aho-Corasick automaton per word list.

The Rust `aho-corasick` crate's DFA (through `ahocorasick_rs`), ~7x faster than pyahocorasick on
4 KB texts. This wrapper adds what every user of it needs: every occurrence (overlapping), lone
surrogates tolerated (the crate encodes to UTF-8; U+FFFD keeps every offset and is in no
pattern), and pickling (Ray actors, worker processes), which the Rust object lacks: the automaton
is rebuilt from its patterns on arrival.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import ahocorasick_rs

_SURROGATES = re.compile("[\ud800-\udfff]")


class Automaton:
    """All occurrences of a fixed list of strings in a text, as (pattern index, start, end)."""

    def __init__(self, patterns: Iterable[str]):
        self.patterns = list(patterns)
        self._build()

    def _build(self) -> None:
        self._ac = ahocorasick_rs.AhoCorasick(
            self.patterns,
            matchkind=ahocorasick_rs.MatchKind.Standard,
            implementation=ahocorasick_rs.Implementation.DFA,
        )

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """Every occurrence of every pattern (overlapping), code-point offsets, in no set order."""
        try:
            return self._ac.find_matches_as_indexes(text, overlapping=True)
        except UnicodeEncodeError:  # lone surrogates
            return self._ac.find_matches_as_indexes(_SURROGATES.sub("\ufffd", text), overlapping=True)

    def __getstate__(self) -> dict:
        return {"patterns": self.patterns}

    def __setstate__(self, state: dict) -> None:
        self.patterns = state["patterns"]
        self._build()
