"""Text → shingles for MinHash: word n-grams, or character n-grams for scripts written without spaces.

Tokens: NFKC + lowercase, then every character of an unspaced script (Han, kana, Thai, Lao, Khmer, Myanmar,
Tibetan) is a token of its own and any other run of word characters is a word. A document whose tokens are
mostly unspaced characters is shingled with `char_ngram`, else with `ngram`. A shingle's bytes are its
tokens joined by one space, UTF-8 encoded (`shingles`, the obvious reference).

The 32-bit shingle hash is defined from its words' hashes so that it can be computed for a whole document
in a few numpy passes instead of one Python call per shingle (that was the bottleneck, ~3x slower):
- word hash: a tabulation-style sum over the word's code points, sum_i mix64(cp_i | i << 21) mod 2^64, then
  mix64 again and the high 32 bits (positions make it order-sensitive; sums are vectorizable per document);
- shingle hash: acc = ((acc ^ word_hash) * 0x9E3779B1) mod 2^32 over the n words in order, then fmix32.
`hash32(shingle_bytes)` re-splits the bytes into words and computes the same value in plain Python; pass it as
`datasketch.MinHash(hashfunc=hash32)` to get signatures identical to ours.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np

# Unspaced scripts: CJK ideographs (+ext A, compat, ext B..), Hiragana, Katakana (+ext, halfwidth), Thai, Lao,
# Tibetan, Myanmar, Khmer. Hangul is written with spaces and stays word-based.
_UNSPACED_RANGES = [
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3134F),
    (0x3040, 0x309F),
    (0x30A0, 0x30FF),
    (0x31F0, 0x31FF),
    (0xFF66, 0xFF9F),
    (0x0E00, 0x0E7F),
    (0x0E80, 0x0EFF),
    (0x0F00, 0x0FFF),
    (0x1000, 0x109F),
    (0x1780, 0x17FF),
]


def _esc(cp: int) -> str:
    return f"\\U{cp:08x}"


_UNSPACED = "".join(f"{_esc(lo)}-{_esc(hi)}" for lo, hi in _UNSPACED_RANGES)
# Linear-time: two character classes, no nested quantifiers.
TOKEN_RE = re.compile(f"[{_UNSPACED}]|[^\\W{_UNSPACED}]+")
_UNSPACED_RE = re.compile(f"[{_UNSPACED}]")

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1
_POS_SHIFT = 21  # code points need 21 bits; the position within the word goes above them
_COMBINE_SEED = 0x165667B1
_COMBINE_MUL = 0x9E3779B1
_SEP, _WORD, _UNSP = 0, 1, 2  # character classes


@lru_cache(maxsize=1)
def _char_classes() -> np.ndarray:
    """uint8 class of every code point (separator / word / unspaced), built once per process (~0.1 s).

    Built with the same regex semantics as TOKEN_RE (`\\w` over the whole code space), so the vectorized
    tokenizer below splits exactly like `TOKEN_RE.findall`.
    """
    every = "".join(map(chr, range(0x110000)))
    word = re.sub(r"\W", "\x00", every)  # keeps word characters, zeroes the rest (NUL is not a word char)
    cps = np.frombuffer(word.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cls = np.where(cps != 0, _WORD, _SEP).astype(np.uint8)
    for lo, hi in _UNSPACED_RANGES:
        cls[lo : hi + 1] = _UNSP
    return cls


def normalize(text: str) -> str:
    """NFKC + lowercase (NFKC leaves ASCII unchanged, so it is skipped there)."""
    return text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).lower()


def tokenize(text: str) -> list[str]:
    """Reference tokenizer: words / single unspaced-script characters of the normalized text."""
    return TOKEN_RE.findall(normalize(text))


def _ngram_size(text_is_ascii: bool, n_tokens: int, n_unspaced: int, ngram: int, char_ngram: int) -> int:
    if text_is_ascii or not n_tokens:
        return ngram
    return char_ngram if 2 * n_unspaced > n_tokens else ngram


def shingles(text: str, ngram: int = 5, char_ngram: int = 5) -> list[bytes]:
    """Reference (slow, obvious) shingling: the byte strings whose hashes form the MinHash set."""
    tokens = tokenize(text)
    unspaced = sum(1 for t in tokens if len(t) == 1 and _UNSPACED_RE.match(t))
    n = _ngram_size(text.isascii(), len(tokens), unspaced, ngram, char_ngram)
    if not tokens:
        return []
    if len(tokens) <= n:
        return [" ".join(tokens).encode()]
    return [" ".join(tokens[i : i + n]).encode() for i in range(len(tokens) - n + 1)]


# ------------------------------------------------------------------ scalar hash (datasketch hashfunc)


def _mix64_int(z: int) -> int:
    """splitmix64 finalizer on a Python int."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _fmix32_int(h: int) -> int:
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & _M32
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def word_hash(word: str) -> int:
    """32-bit hash of one token (the vectorized path computes the same value)."""
    s = sum(_mix64_int(ord(c) | (i << _POS_SHIFT)) for i, c in enumerate(word)) & _M64
    return _mix64_int(s) >> 32


def hash32(data: bytes) -> int:
    """The shingle hash of shingle bytes; pass it as `hashfunc` to datasketch for identical signatures."""
    acc = _COMBINE_SEED
    for w in data.decode("utf-8", "surrogatepass").split(" "):
        acc = ((acc ^ word_hash(w)) * _COMBINE_MUL) & _M32
    return _fmix32_int(acc)


# ------------------------------------------------------------------ vectorized hash (one document at a time)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> np.uint64(30))
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def token_hashes(text: str) -> tuple[np.ndarray, int]:
    """(uint32 word hash of every token in order, number of unspaced-script tokens).

    Works on the whole code-point array (separators included, then zeroed) so that every step is one
    numpy pass: no compaction, no per-token Python objects.
    """
    norm = normalize(text)
    cps = np.frombuffer(norm.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cls = _char_classes().take(cps)
    word = cls == _WORD
    unsp = cls == _UNSP
    # A token starts at an unspaced char, or at a word char not directly preceded by a word char.
    start = unsp.copy()
    start[1:] |= word[1:] & ~word[:-1]
    start[:1] |= word[:1]
    first = np.flatnonzero(start)
    if len(first) == 0:
        return np.empty(0, dtype=np.uint32), 0
    idx = np.arange(len(cps), dtype=np.uint32 if len(cps) < 1 << 32 else np.uint64)
    pos = idx - np.maximum.accumulate(np.where(start, idx, 0))  # offset within the current token
    key = pos.astype(np.uint64)
    key <<= np.uint64(_POS_SHIFT)
    key |= cps
    v = _mix64(key)
    v *= word | unsp  # separators add nothing to the token sum they trail
    sums = np.add.reduceat(v, first)
    return (_mix64(sums) >> np.uint64(32)).astype(np.uint32), int(np.count_nonzero(unsp))


def combine(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """Shingle hashes of every window of n consecutive word hashes (one window of all when fewer)."""
    k = min(n, len(word_hashes))
    m = len(word_hashes) - k + 1
    acc = np.full(m, _COMBINE_SEED, dtype=np.uint32)
    mul = np.uint32(_COMBINE_MUL)
    for i in range(k):
        acc ^= word_hashes[i : i + m]
        acc *= mul
    return _fmix32(acc)


def shingle_hashes(text: str, ngram: int = 5, char_ngram: int = 5) -> np.ndarray:
    """Fast path, equal to `[hash32(s) for s in shingles(text)]` as uint32."""
    wh, unspaced = token_hashes(text)
    if len(wh) == 0:
        return wh
    return combine(wh, _ngram_size(text.isascii(), len(wh), unspaced, ngram, char_ngram))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two shingle-hash sets (arrays, duplicates allowed)."""
    ua, ub = np.unique(a), np.unique(b)
    if len(ua) == 0 and len(ub) == 0:
        return 1.0
    inter = len(np.intersect1d(ua, ub, assume_unique=True))
    return inter / (len(ua) + len(ub) - inter)
