"""Leetspeak read back as English words, by word frequency.

A fixed table cannot read leet: "1" stands for i in "k1d" and for l in "ki11", and a table that
always says i turns "ki11" into "kiii", which the elongation fold then squeezes to "ki". This module
finds the words a token's ambiguous symbols can spell and keeps a word of the blocklist terms if one
is among them ("H31l" is "heil"), else the most frequent English word, so "ki11" is "kill" and
"p1an" is "plan". It also reads a token of digits alone ("4",
"70", "137") when the normalizer asks it to, which it does only inside a run of leet.

The word frequencies are pyspellchecker's English list (MIT; a pinned dependency). Only the data
file is used, not the package's code; its sha256 is checked when it is loaded and a mismatch fails
closed, as for every model the filters load. The lists are loaded once per process, the first time
a token needs them (~0.3–0.4 s and ~47 MB with their index; `Filter.warm_up` loads them).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import itertools
import json
import re
from functools import lru_cache
from pathlib import Path

__all__ = [
    "WORDS_SHA256",
    "WordListError",
    "is_frequent_word",
    "is_leet_evidence",
    "load",
    "read_contraction",
    "read_lone_digits",
    "read_token",
    "term_numbers",
    "term_words",
    "word_frequencies",
]

WORDS_PACKAGE = "spellchecker"  # pyspellchecker==0.9.1, pinned in pyproject.toml
WORDS_FILE = "resources/en.json.gz"
WORDS_SHA256 = "2474a48af86fd81dccea9edd0bba6cd36dd2ecedc0ae217cefcb233bba28613c"

DATA_DIR = Path(__file__).resolve().parent / "data"
# Its .tsv files: the curated lists (term<TAB>weight) and the English LDNOOBW categories (term<TAB>category).
TERMS_DIR = DATA_DIR / "terms"
LDNOOBW_ENGLISH = DATA_DIR / "ldnoobw" / "en.txt"

# The one reading of every unambiguous symbol, and both readings of the ambiguous ones.
FIXED = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s"}
AMBIGUOUS = {"1": "il", "!": "il", "|": "li"}  # the first letter is the reading when no word decides
DEFAULT_TABLE = str.maketrans({**FIXED, **{k: v[0] for k, v in AMBIGUOUS.items()}})
_BLANK_IL = str.maketrans("il", "##")
MAX_AMBIGUOUS = 6  # at most 2**6 spellings are tried for one token; more keep the default reading

# A token of digits alone is read only as a frequent word (not "o" or "b"); one letter only as a or i.
MIN_WORD_FREQUENCY = 1000
ONE_LETTER_WORDS = frozenset("ai")
CONTRACTION_ENDINGS = frozenset(("s", "t", "ll"))  # the endings digits can spell: "it'5", "don'7", "we'11"
_TERM_TOKEN_RE = re.compile(r"[a-z]+|[0-9]+")


class WordListError(RuntimeError):
    """The word-frequency file is missing or is not the pinned file."""


@lru_cache(maxsize=1)
def word_frequencies() -> dict[str, int]:
    """English word -> frequency (lowercase a-z words only), from the pinned, hash-checked file."""
    spec = importlib.util.find_spec(WORDS_PACKAGE)  # locates the package without running its code
    try:
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(WORDS_PACKAGE)
        blob = (Path(next(iter(spec.submodule_search_locations))) / WORDS_FILE).read_bytes()
    except OSError as exc:
        raise WordListError(
            f"the English word list ({WORDS_PACKAGE}/{WORDS_FILE}) is missing: reinstall winnow (`make install`)"
        ) from exc
    digest = hashlib.sha256(blob).hexdigest()
    if digest != WORDS_SHA256:
        raise WordListError(
            f"{WORDS_PACKAGE}/{WORDS_FILE} has sha256 {digest}, not the pinned {WORDS_SHA256}: "
            "install the pinned pyspellchecker (`make install`)"
        )
    counts = json.loads(gzip.decompress(blob))
    return {w: int(n) for w, n in counts.items() if w.isascii() and w.isalpha() and w.islower()}  # [a-z]+


@lru_cache(maxsize=1)
def term_words() -> frozenset[str]:
    """The words (three letters or more) of the English and curated blocklist terms: "heil" of "heil
    hitler". A reading that is one of them wins over a more frequent word ("H31l" is "heil", not
    "hell"): the normalized view exists so that the terms match, and where leet is ambiguous the
    spelling a term needs is the one an evader meant. Read from the raw list files (the term loader
    normalizes its terms, which would come back here)."""
    return frozenset(w for w in _term_tokens() if w.isalpha() and len(w) >= 3)


@lru_cache(maxsize=1)
def term_numbers() -> frozenset[str]:
    """The tokens of digits alone in the English and curated terms ("14" of "14 words", "2" and "1"
    of "2 girls 1 cup"): never read as letters, so those terms match in a text written in leet."""
    return frozenset(w for w in _term_tokens() if w.isdigit())


@lru_cache(maxsize=1)
def _term_tokens() -> frozenset[str]:
    """The lowercase tokens (runs of a-z or of 0-9) of the English and curated term files."""
    tokens: set[str] = set()
    for path in [*sorted(TERMS_DIR.glob("*.tsv")), LDNOOBW_ENGLISH]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                tokens.update(_TERM_TOKEN_RE.findall(line.partition("\t")[0].lower()))
    return frozenset(tokens)


@lru_cache(maxsize=1)
def _words_by_skeleton() -> dict[str, tuple[str, ...]]:
    """Every word of both lists that holds an i or an l, grouped by its spelling with i and l blanked
    ("kill" -> "k##"): the words a token's ambiguous symbols can spell are found with one lookup, so a
    token costs the same however many readings it has (a text of distinct 6-symbol tokens cost 30
    times main's normalize when every reading was tried)."""
    groups: dict[str, list[str]] = {}
    freq = word_frequencies()
    # The order inside a group does not matter: two words a token can spell differ at one of its
    # ambiguous symbols at least, so they never tie in `read_token`.
    for word in itertools.chain(freq, (w for w in term_words() if w not in freq)):
        if "i" in word or "l" in word:
            groups.setdefault(word.translate(_BLANK_IL), []).append(word)
    return {skeleton: tuple(words) for skeleton, words in groups.items()}


def load() -> None:
    """Load both lists and build their index now (for long-lived callers: `Filter.warm_up`)."""
    _words_by_skeleton()
    term_numbers()


@lru_cache(maxsize=1 << 16)
def read_token(token: str) -> str:
    """A lowercase token of letters and leet symbols read as letters (same length): among the readings
    of its ambiguous symbols, a word of the blocklist terms, else the most frequent English word, else
    the default reading (ties: the reading that comes first when each symbol's letters are tried in
    `AMBIGUOUS` order)."""
    default = token.translate(DEFAULT_TABLE)
    slots = [i for i, ch in enumerate(token) if ch in AMBIGUOUS]
    if not slots or len(slots) > MAX_AMBIGUOUS:
        return default
    freq, terms = word_frequencies(), term_words()
    literal = [i for i, ch in enumerate(token) if ch in "il"]  # letters the writer wrote: not to choose
    best, best_key = default, (default in terms, freq.get(default, 0), 0)
    for word in _words_by_skeleton().get(default.translate(_BLANK_IL), ()):
        if any(word[i] != token[i] for i in literal):
            continue
        order = 0  # the reading's place among all readings, first slot most significant
        for i in slots:
            order = order * 2 + AMBIGUOUS[token[i]].index(word[i])
        key = (word in terms, freq.get(word, 0), -order)
        if key > best_key:
            best, best_key = word, key
    return best


def is_frequent_word(word: str) -> bool:
    """A frequent English word: "a" and "i" of the one-letter words, longer ones seen often enough."""
    if len(word) == 1:
        return word in ONE_LETTER_WORDS
    return word_frequencies().get(word, 0) >= MIN_WORD_FREQUENCY


def is_leet_evidence(reading: str) -> bool:
    """Whether a token with a leet symbol between two letters that reads as `reading` shows that the
    text is written in leet (so that digits alone beside it are words too): a frequent word."""
    return len(reading) > 2 and is_frequent_word(reading)


@lru_cache(maxsize=1 << 12)
def read_lone_digits(digits: str) -> str | None:
    """A token of digits alone read as a frequent English word ("70" -> "to"), or None; never a number
    that is a token of a blocklist term ("14" of "14 words"), which must match as the term is written."""
    if digits in term_numbers():
        return None
    word = read_token(digits)
    return word if is_frequent_word(word) else None


@lru_cache(maxsize=1 << 8)
def read_contraction(digits: str) -> str | None:
    """Digits after an apostrophe read as a contraction's ending ("'5" -> "'s", "'7" -> "'t"), or None."""
    for letters in itertools.product(*(AMBIGUOUS.get(ch, FIXED.get(ch, ch)) for ch in digits)):
        ending = "".join(letters)
        if ending in CONTRACTION_ENDINGS:
            return ending
    return None
