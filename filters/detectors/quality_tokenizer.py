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
spaCy's (a test compares them with datatrove's on real documents).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from typing import Any

_RUNS = re.compile(r"\S+|\s+")  # `\s` is exactly `str.isspace` for str patterns (checked in tests)
_NON_WS = re.compile(r"\S+")


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

            self._nlp = spacy.blank(self.spacy_lang)
            self._punct_chars = frozenset(Sentencizer.default_punct_chars)
        return self._nlp

    def _fill(self, chunks: list[str]) -> None:
        """Tokenize the chunks missing from the cache in one spaCy call."""
        cache = self._cache
        missing = list(dict.fromkeys(c for c in chunks if c not in cache))
        if not missing:
            return
        if len(cache) + len(missing) > self.max_cache:
            cache.clear()  # bounded memory; results never depend on the cache
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
        starts = []
        pos = 0
        for chunk in missing:
            starts.append(pos)
            pos += len(chunk) + 1
        out: list[list[str]] = [[] for _ in missing]
        nlp.max_length = max(nlp.max_length, len(joined) + 10)
        with nlp.memory_zone():
            doc = nlp.tokenizer(joined)
            k = 0
            for tok in doc:
                while k + 1 < len(starts) and tok.idx >= starts[k + 1]:
                    k += 1
                out[k].append(tok.text)
        for chunk, toks in zip(missing, out, strict=False):
            self._cache[chunk] = tuple(toks)

    def words_batch(self, texts: list[str]) -> list[list[str]]:
        """datatrove's `split_into_words(text, "en")` for each text (whitespace tokens dropped)."""
        chunked = [_NON_WS.findall(t) for t in texts]
        with self._lock:
            self._fill([c for chunks in chunked for c in chunks])
            cache = self._cache
            result = []
            for chunks in chunked:
                words: list[str] = []
                for c in chunks:
                    words.extend(cache[c])
                result.append(words)
        return result

    def words(self, text: str) -> list[str]:
        return self.words_batch([text])[0]

    def count_sentences(self, line: str) -> int:
        """Number of sentences spaCy's default `sentencizer` finds in `line`.

        Mirrors `Sentencizer.predict`: a new sentence starts at the first token
        after a sentence-final character that is neither punctuation nor such a
        character. Whitespace runs other than a single separating space are
        tokens too (as in spaCy), so they can start a sentence.
        """
        if not line:
            return 1  # datatrove's split_into_sentences("") yields one (empty) part
        runs = _RUNS.findall(line)
        with self._lock:
            self._fill([r for r in runs if not r.isspace()])
            punct_chars = self._punct_chars
            cache = self._cache
            triggers = 0
            seen_period = False
            n_tokens = 0
            for run in runs:
                if run.isspace():
                    if n_tokens and run[0] == " ":
                        run = run[1:]
                    toks: tuple[str, ...] = (run,) if run else ()
                else:
                    toks = cache[run]
                for tok in toks:
                    n_tokens += 1
                    in_chars = tok in punct_chars
                    if seen_period and not in_chars and not _is_punct(tok):
                        triggers += 1
                        seen_period = False
                    elif in_chars:
                        seen_period = True
        return 1 + triggers
