"""Text → shingles for MinHash: word n-grams, or character n-grams for scripts written without spaces.

One regex pass splits normalized text into tokens: every character of an unspaced script (Han, kana, Thai,
Lao, Khmer, Myanmar, Tibetan) is a token of its own; any other run of word characters is a word. A
document whose tokens are mostly unspaced characters is shingled with `char_ngram`, else with `ngram`.
A shingle's bytes are its tokens joined by one space, UTF-8 encoded; its hash is xxh32 (seed 0) of those
bytes, the same function a user passes to `datasketch.MinHash(hashfunc=...)`.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import xxhash

# Unspaced scripts: CJK ideographs (+ext A, compat, ext B..), Hiragana, Katakana (+ext, halfwidth), Thai, Lao,
# Tibetan, Myanmar, Khmer. Hangul is written with spaces and stays word-based.
_UNSPACED = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
    "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
    "\u0e00-\u0e7f\u0e80-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff"
)
# Linear-time: two character classes, no nested quantifiers.
TOKEN_RE = re.compile(f"[{_UNSPACED}]|[^\\W{_UNSPACED}]+")
_UNSPACED_RE = re.compile(f"[{_UNSPACED}]")

_xxh32 = xxhash.xxh32_intdigest


def hash32(data: bytes) -> int:
    """The shingle hash (xxh32, seed 0); pass it as `hashfunc` to datasketch for identical signatures."""
    return _xxh32(data)


def tokenize(text: str) -> list[str]:
    """NFKC + lowercase, then split into words / single unspaced-script characters."""
    return TOKEN_RE.findall(unicodedata.normalize("NFKC", text).lower())


def _ngram_size(text_is_ascii: bool, tokens: list[str], ngram: int, char_ngram: int) -> int:
    if text_is_ascii or not tokens:
        return ngram
    unspaced = sum(1 for t in tokens if len(t) == 1 and _UNSPACED_RE.match(t))
    return char_ngram if 2 * unspaced > len(tokens) else ngram


def shingles(text: str, ngram: int = 5, char_ngram: int = 5) -> list[bytes]:
    """Reference (slow, obvious) shingling: the byte strings whose hashes form the MinHash set."""
    tokens = tokenize(text)
    n = _ngram_size(text.isascii(), tokens, ngram, char_ngram)
    if not tokens:
        return []
    if len(tokens) <= n:
        return [" ".join(tokens).encode()]
    return [" ".join(tokens[i : i + n]).encode() for i in range(len(tokens) - n + 1)]


def shingle_hashes(text: str, ngram: int = 5, char_ngram: int = 5) -> np.ndarray:
    """Fast path, equal to `[hash32(s) for s in shingles(text)]` as uint32.

    Encodes the space-joined token stream once and hashes byte slices of it, instead of joining and
    encoding every n-gram.
    """
    tokens = tokenize(text)
    if not tokens:
        return np.empty(0, dtype=np.uint32)
    n = _ngram_size(text.isascii(), tokens, ngram, char_ngram)
    joined = " ".join(tokens)
    buf = joined.encode()
    if len(tokens) <= n:
        return np.array([_xxh32(buf)], dtype=np.uint32)
    if len(buf) == len(joined):
        lens = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    else:
        lens = np.fromiter((len(t.encode()) for t in tokens), dtype=np.int64, count=len(tokens))
    starts = np.empty(len(tokens), dtype=np.int64)
    starts[0] = 0
    np.cumsum(lens[:-1] + 1, out=starts[1:])
    ends = starts + lens
    m = len(tokens) - n + 1
    s_list = starts[:m].tolist()
    e_list = ends[n - 1 :].tolist()
    return np.fromiter(
        map(_xxh32, map(buf.__getitem__, map(slice, s_list, e_list))), dtype=np.uint32, count=m
    )


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two shingle-hash sets (arrays, duplicates allowed)."""
    ua, ub = np.unique(a), np.unique(b)
    if len(ua) == 0 and len(ub) == 0:
        return 1.0
    inter = len(np.intersect1d(ua, ub, assume_unique=True))
    return inter / (len(ua) + len(ub) - inter)
