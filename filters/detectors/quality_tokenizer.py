"""spaCy's word tokenization, memoized per whitespace-delimited chunk.

datatrove's English word tokenizer (`SpaCyTokenizer.word_tokenize`) runs the
whole spaCy pipeline inside a fresh `memory_zone()` on every call, which throws
away spaCy's tokenizer cache each time (≈ 40–60 documents/s per core). spaCy's
tokenizer itself works chunk by chunk: it splits the text into runs of
whitespace / non-whitespace (`str.isspace`) and tokenizes each non-whitespace
run independently (that is what its own cache is keyed on; the only special
cases containing whitespace are pure-whitespace strings). So the token list of
a document is the concatenation of the token lists of its chunks, and we can
keep our own bounded dict from chunk to tokens, asking spaCy only for chunks
never seen before, all of a batch's misses in one call. The words are exactly
spaCy's (a test compares them with datatrove's on real documents), with one
exception: spaCy's affix splitting is quadratic in a chunk's length (a 100,000-
character run of "a1:" takes 35 s), so a chunk longer than MAX_CHUNK characters
(far longer than any word; C4 already discards lines holding a word over 1,000)
is tokenized in MAX_CHUNK-character pieces, which keeps every input linear.
"""

from __future__ import annotations

import re
import sys
import threading
import unicodedata
from itertools import accumulate, chain
from typing import Any

import numpy as np
from spacy.attrs import IDX, LENGTH

_RUNS = re.compile(r"\S+|\s+")  # `\s` is exactly `str.isspace` for str patterns (checked in tests)


MAX_CHUNK = 1000


def _bounded(chunks: list[str]) -> list[str]:
    """`chunks` (str.split() pieces: exactly the `str.isspace` runs apart) with those over MAX_CHUNK
    characters cut into MAX_CHUNK-character pieces."""
    if max(map(len, chunks), default=0) <= MAX_CHUNK:
        return chunks
    out: list[str] = []
    for c in chunks:
        if len(c) <= MAX_CHUNK:
            out.append(c)
        else:
            out.extend(c[i : i + MAX_CHUNK] for i in range(0, len(c), MAX_CHUNK))
    return out


def _is_punct(text: str) -> bool:
    """spaCy's IS_PUNCT lexical attribute (spacy.lang.lex_attrs.is_punct)."""
    return all(unicodedata.category(char).startswith("P") for char in text)


class ChunkTokenizer:
    """spaCy word tokens for a language, with a per-chunk cache.

    Lazy: spaCy is imported on first use, so instances pickle cheaply (Ray actors).
    """

    def __init__(self, spacy_lang: str = "en", max_cache: int = 500_000):
        self.spacy_lang = spacy_lang
        self.max_cache = max_cache
        self._nlp: Any = None
        self._cache: dict[str, tuple[str, ...]] = {}
        self._sent_cache: dict[str, tuple[int, bool, int, bool]] = {}
        self._lock = threading.Lock()
        self._punct_chars: frozenset[str] = frozenset()
        self._plain_ok = spacy_lang == "en"

    def __getstate__(self) -> dict[str, Any]:
        return {"spacy_lang": self.spacy_lang, "max_cache": self.max_cache}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    @property
    def nlp(self) -> Any:
        if self._nlp is None:
            import spacy
            from spacy.pipeline import Sentencizer

            nlp = spacy.blank(self.spacy_lang)
            # Only token boundaries are read here, never lexical attributes (shape, like_num, ...);
            # computing them for every new word was most of spaCy's cost. Splitting never reads them.
            nlp.vocab.lex_attr_getters = {}
            self._punct_chars = frozenset(Sentencizer.default_punct_chars)
            self._nlp = nlp
        return self._nlp

    def _fill(self, chunks: list[str]) -> None:
        """Tokenize the chunks missing from the cache in one spaCy call."""
        cache = self._cache
        missing = set(chunks).difference(cache)  # chunks repeat heavily: each distinct one once
        if not missing:
            return
        if len(cache) + len(missing) > self.max_cache:
            cache.clear()  # bounded memory; results never depend on the cache
            missing = set(chunks)  # the callers read every chunk back
        missing = sorted(missing)  # one spaCy call over them, in an order independent of hashing
        nlp = self.nlp
        if self._plain_ok:
            # An ASCII-letters chunk that is not a special case (e.g. "cannot", "gonna") is one
            # token: no English prefix/suffix/infix rule matches letters alone (checked in tests).
            rules = nlp.tokenizer.rules
            rest = []
            for c in missing:
                if c.isalpha() and c.isascii() and c not in rules:
                    cache[c] = (c,)
                else:
                    rest.append(c)
            missing = rest
            if not missing:
                return
        joined = " ".join(missing)
        nlp.max_length = max(nlp.max_length, len(joined) + 10)
        with nlp.memory_zone():
            # token offsets and lengths as arrays: no Token objects
            idx, length = nlp.tokenizer(joined).to_array([IDX, LENGTH]).T.tolist()
        starts = list(accumulate((len(c) + 1 for c in missing[:-1]), initial=0))
        owner = np.searchsorted(starts, idx, side="right") - 1  # the chunk each token lies in
        out: list[list[str]] = [[] for _ in missing]
        for k, i, n in zip(owner.tolist(), idx, length, strict=True):
            out[k].append(joined[i : i + n])
        for chunk, toks in zip(missing, out, strict=True):
            cache[chunk] = tuple(toks)

    def words_batch(self, texts: list[str]) -> list[list[str]]:
        """datatrove's `split_into_words(text, "en")` for each text (whitespace tokens dropped)."""
        chunked = [_bounded(t.split()) if len(t) > MAX_CHUNK else t.split() for t in texts]
        with self._lock:
            self._fill([c for chunks in chunked for c in chunks])
            lookup = self._cache.__getitem__
            result = [list(chain.from_iterable(map(lookup, chunks))) for chunks in chunked]
        return result

    def _sentence_step(self, run: str) -> tuple[int, bool, int, bool]:
        """The sentencizer's effect of a chunk's tokens, for both incoming states.

        (triggers, seen_period after) starting with seen_period False, then the same starting with
        True: the state machine of `count_sentences` carries only that flag, so a chunk's effect is
        computed once per distinct chunk instead of once per token occurrence."""
        step = self._sent_cache.get(run)
        if step is None:
            punct_chars = self._punct_chars
            out: list[int | bool] = []
            for seen_period in (False, True):
                triggers = 0
                for tok in self._cache[run]:
                    in_chars = tok in punct_chars
                    if seen_period and not in_chars and not _is_punct(tok):
                        triggers += 1
                        seen_period = False
                    elif in_chars:
                        seen_period = True
                out += [triggers, seen_period]
            step = (int(out[0]), bool(out[1]), int(out[2]), bool(out[3]))
            if len(self._sent_cache) >= self.max_cache:
                self._sent_cache = {}  # bounded memory; results never depend on the cache
            self._sent_cache[run] = step
        return step

    def _triggers(self, line: str, limit: int) -> int:
        """Sentence starts after the first in `line` (the sentencizer's), counting stops at `limit`.

        Mirrors `Sentencizer.predict`: a new sentence starts at the first token after a
        sentence-final character that is neither punctuation nor such a character. Whitespace runs
        other than a single separating space are tokens too (as in spaCy), so they can start a
        sentence. A whitespace token is never punctuation nor sentence-final, so it only closes a
        pending period. Call with the lock held and the line's chunks in the cache."""
        sent_cache = self._sent_cache
        triggers = 0
        seen_period = False
        any_tokens = False
        for run in _RUNS.findall(line):
            if run == " ":  # the usual separator: no token once a token came before it
                any_tokens = True
            elif run.isspace():
                if any_tokens and run[0] == " ":
                    run = run[1:]
                if run:
                    any_tokens = True
                    if seen_period:
                        triggers += 1
                        seen_period = False
            else:
                any_tokens = True
                step = sent_cache.get(run)
                if step is None:
                    step = self._sentence_step(run)
                    sent_cache = self._sent_cache
                if seen_period:
                    triggers += step[2]
                    seen_period = step[3]
                else:
                    triggers += step[0]
                    seen_period = step[1]
            if triggers >= limit:
                break
        return triggers

    def count_sentences_batch(self, lines: list[str]) -> list[int]:
        """Number of sentences spaCy's default `sentencizer` finds in each line (all lines' chunks go
        to spaCy in one call)."""
        counts = []
        with self._lock:
            self._fill([c for line in lines for c in line.split()])  # the non-whitespace runs
            _ = self.nlp  # loads spaCy, which sets _punct_chars
            for line in lines:
                # datatrove's split_into_sentences("") yields one (empty) part
                counts.append(1 + self._triggers(line, sys.maxsize) if line else 1)
        return counts

    def has_sentences(self, lines: list[str], minimum: int) -> bool:
        """True when the lines hold at least `minimum` sentences in all (`count_sentences_batch`
        summed), reading only as far as needed: every line counts at least one."""
        total = len(lines)
        with self._lock:
            _ = self.nlp  # loads spaCy, which sets _punct_chars
            for line in lines:
                if total >= minimum:
                    break
                if line:
                    self._fill(line.split())
                    total += self._triggers(line, minimum - total)
        return total >= minimum

    def count_sentences(self, line: str) -> int:
        """Number of sentences spaCy's default `sentencizer` finds in `line` (see `count_sentences_batch`)."""
        return self.count_sentences_batch([line])[0]
