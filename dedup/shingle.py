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


# Code points per batch of the vectorized tokenizer: 64k x 8 B arrays stay in L2 (1M-code-point batches
# were clearly slower on the 2-core VM).
_CHUNK_CPS = 1 << 16


_TABLE_POS = 64  # word hashes of ASCII characters at positions below this come from a table


@lru_cache(maxsize=1)
def _ascii_table() -> np.ndarray:
    """uint64 summand of ASCII character c at position p in its token, at [p * 128 + c]; 0 for separators."""
    pos = np.repeat(np.arange(_TABLE_POS, dtype=np.uint64), 128)
    cps = np.tile(np.arange(128, dtype=np.uint64), _TABLE_POS)
    v = _mix64((pos << np.uint64(_POS_SHIFT)) | cps)
    v *= _char_classes()[:128][cps.astype(np.int64)] == _WORD
    return v


@lru_cache(maxsize=1)
def _lower_table() -> np.ndarray:
    """uint32 `chr(c).lower()` of every code point (U+0130 maps to itself: it never goes through here)."""
    every = "".join(map(chr, range(0x110000)))
    low = every.replace("\u0130", "\x00").lower()  # 1:1 without U+0130; Σ here is not word-final → σ
    table = np.frombuffer(low.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()
    table[0x130] = 0x130
    table[0] = 0
    return table


def _nfkc(text: str) -> str:
    """NFKC of the text, normalizing only the lines that need it (the full pass costs ~30 ns a character).

    Line by line is exact: a newline is a starter that composes with nothing, so normalization never
    reaches across it.
    """
    if unicodedata.is_normalized("NFKC", text):
        return text
    # No-break space, the usual culprit in web text, decomposes to a plain space whatever surrounds it.
    text = text.replace("\u00a0", " ")
    if unicodedata.is_normalized("NFKC", text):
        return text
    return "\n".join(
        ln if ln.isascii() or unicodedata.is_normalized("NFKC", ln) else unicodedata.normalize("NFKC", ln)
        for ln in text.split("\n")
    )


def _codepoints(text: str) -> np.ndarray:
    """Code points of `normalize(text)` (uint8 for ASCII text, else uint32)."""
    if text.isascii():
        return np.frombuffer(text.lower().encode("ascii"), dtype=np.uint8)  # widened when joined
    norm = _nfkc(text)
    if "\u0130" in norm or "\u03a3" in norm:  # lowercase of more than one code point, or by context
        return np.frombuffer(norm.lower().encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return _lower_table().take(np.frombuffer(norm.encode("utf-32-le", "surrogatepass"), dtype=np.uint32))


def _token_hashes_chunk(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(word hashes of all tokens in order, tokens per text, unspaced tokens per text) for a few texts.

    The texts' normalized code points are joined with a separator (0), so tokens never span two texts and
    every step is one numpy pass over the batch: no compaction, no per-token Python objects.
    """
    parts = [_codepoints(t) for t in texts]
    lengths = np.fromiter((len(p) + 1 for p in parts), dtype=np.int64, count=len(parts))
    ends = np.cumsum(lengths)  # one past each text's separator
    starts = ends - lengths
    cps = np.zeros(int(ends[-1]) if len(parts) else 0, dtype=np.uint32)
    for p, s in zip(parts, starts.tolist(), strict=True):
        cps[s : s + len(p)] = p
    cls = _char_classes().take(cps)
    word = cls == _WORD
    unsp = cls == _UNSP
    # A token starts at an unspaced char, or at a word char not directly preceded by a word char.
    start = unsp.copy()
    start[1:] |= word[1:] & ~word[:-1]
    start[:1] |= word[:1]
    first = np.flatnonzero(start)
    per_text = np.diff(np.searchsorted(first, np.append(starts, len(cps))))
    unsp_at = np.flatnonzero(unsp)
    unspaced = np.searchsorted(unsp_at, ends) - np.searchsorted(unsp_at, starts)
    if len(first) == 0:
        return np.empty(0, dtype=np.uint32), per_text, unspaced
    # Offset of each character within its token: index minus the start of the token it trails in.
    itype = np.int32 if len(cps) < 1 << 31 else np.int64
    token_start = np.concatenate(
        [np.zeros(first[0], itype), np.repeat(first.astype(itype), np.diff(np.append(first, len(cps))))]
    )
    pos = np.arange(len(cps), dtype=itype) - token_start
    # Summand of each character: mix64(cp | pos << 21), 0 for separators. ASCII at small positions
    # (nearly every character of most text) reads it from a table; the rest is computed.
    small = np.minimum(pos, _TABLE_POS - 1)
    small <<= 7
    small |= np.minimum(cps.view(np.int32), 127)  # code points < 2^21: the int32 view is exact
    v = _ascii_table().take(small)
    rest = np.flatnonzero((cps > 127) | (pos >= _TABLE_POS))
    if len(rest):
        key = pos[rest].astype(np.uint64)
        key <<= np.uint64(_POS_SHIFT)
        key |= cps[rest]
        v[rest] = _mix64(key) * (word[rest] | unsp[rest])
    sums = np.add.reduceat(v, first)
    return (_mix64(sums) >> np.uint64(32)).astype(np.uint32), per_text, unspaced


def token_hashes(text: str) -> tuple[np.ndarray, int]:
    """(uint32 word hash of every token in order, number of unspaced-script tokens)."""
    wh, _, unspaced = _token_hashes_chunk([text])
    return wh, int(unspaced[0])


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


def _combine_chunk(wh: np.ndarray, per_text: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """Per text, the shingle hashes of its own tokens (windows never cross two texts)."""
    bounds = np.concatenate([[0], np.cumsum(per_text)])
    out: list[np.ndarray] = [np.empty(0, dtype=np.uint32)] * len(per_text)
    for n in np.unique(sizes).tolist():
        full = np.flatnonzero((sizes == n) & (per_text >= n))
        if len(full):
            acc = combine(wh, n) if len(wh) >= n else np.empty(0, np.uint32)
            for t in full.tolist():
                out[t] = acc[bounds[t] : bounds[t + 1] - n + 1]
        for t in np.flatnonzero((sizes == n) & (per_text > 0) & (per_text < n)).tolist():
            out[t] = combine(wh[bounds[t] : bounds[t + 1]], n)  # fewer tokens than n: one shingle
    return out


def shingle_hashes_batch(texts: list[str], ngram: int = 5, char_ngram: int = 5) -> list[np.ndarray]:
    """`shingle_hashes` of each text, computed a batch of texts at a time (the fast path of the dedup)."""
    out: list[np.ndarray] = []
    i = 0
    while i < len(texts):
        j, cps = i, 0
        while j < len(texts) and (j == i or cps + len(texts[j]) <= _CHUNK_CPS):
            cps += len(texts[j])
            j += 1
        chunk = texts[i:j]
        wh, per_text, unspaced = _token_hashes_chunk(chunk)
        ascii_ = np.fromiter((t.isascii() for t in chunk), dtype=bool, count=len(chunk))
        sizes = np.where(~ascii_ & (2 * unspaced > per_text), char_ngram, ngram)
        out += _combine_chunk(wh, per_text, sizes)
        i = j
    return out


def shingle_hashes(text: str, ngram: int = 5, char_ngram: int = 5) -> np.ndarray:
    """Fast path, equal to `[hash32(s) for s in shingles(text)]` as uint32."""
    return shingle_hashes_batch([text], ngram, char_ngram)[0]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two shingle-hash sets (arrays, duplicates allowed)."""
    ua, ub = np.unique(a), np.unique(b)
    if len(ua) == 0 and len(ub) == 0:
        return 1.0
    inter = len(np.intersect1d(ua, ub, assume_unique=True))
    return inter / (len(ua) + len(ub) - inter)
