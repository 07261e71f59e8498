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

The fast path (`shingle_hashes_batch`) joins a chunk of texts and looks every code point up once in a table
that holds its normalized form's lowercase, class and summand-table code wherever NFKC is context-free for
it; texts with any other character are normalized in Python first. Word hashes read their summands from a
(position, code point) table, one position at a time over the tokens sorted by length.
"""

from __future__ import annotations

import operator
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


def _all_chars(n: int = 0x110000) -> str:
    """The first n code points, surrogates included, as one string."""
    return np.arange(n, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")


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
    cls = np.full(0x110000, _SEP, dtype=np.uint8)
    for m in re.finditer(r"\w+", _all_chars()):
        cls[m.start() : m.end()] = _WORD
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


# ------------------------------------------------------------------ vectorized hash (a chunk of texts at a time)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> np.uint64(30))
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer over an array (a new array; the input is not changed): the last
    step of a shingle's hash here, and datasketch's pre-mix for MinHash's affine32 scheme (`_fmix32_int`
    is the same on one Python int, for a single token)."""
    h = h ^ (h >> np.uint32(16))
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


# Code points per chunk of the vectorized tokenizer: fewer, longer numpy calls per character as it grows
# (on the provenance test documents 64k: 1.45x, 128k: 1.1x the time of 256k; 512k: 0.97x).
_CHUNK_CPS = 1 << 18
# Chunk table entry of a code point (uint16): the summand-table code of its normalized form (11 bits, 0 for
# separators), the class of that (2 bits) and a flag for characters whose text needs the exact NFKC path.
_CLASS_SHIFT = 11
_FLAG = np.uint16(1 << 13)
_CHECKED_CPS = 0x40000  # planes 0-3 are classified; anything above is flagged (exact path)
# Character summands mix64(cp | pos << 21) of code points below _TABLE_CPS at positions below _TABLE_POS
# come from a table (256 KiB); code _ODD (and everything above it) is computed.
_TABLE_CPS = 2048
_TABLE_POS = 16
_ODD = _TABLE_CPS - 1


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


@lru_cache(maxsize=1)
def _lower_table() -> np.ndarray:
    """uint32 `chr(c).lower()` of every code point (U+0130 maps to itself: it never goes through here)."""
    low = _all_chars().replace("\u0130", "\x00").lower()  # 1:1 without U+0130; Σ here is not word-final → σ
    table = np.frombuffer(low.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()
    table[0x130] = 0x130
    table[0] = 0
    return table


def _interacting(chars: list[str]) -> np.ndarray:
    """Which of these characters NFKC may reorder or compose with the character before them: nonzero
    combining class, the second character of a canonical pair, Hangul medial and final jamo."""
    out = np.fromiter(map(unicodedata.combining, chars), dtype=np.int32, count=len(chars)) != 0
    out[0x1160:0x1200] = True
    for c in _changed(chars, "NFD"):
        d = unicodedata.decomposition(chars[c])
        if d and d[0] != "<" and d.count(" ") == 1:
            out[int(d.split(" ")[1], 16)] = True
    return out


def _changed(chars: list[str], form: str) -> list[int]:
    """Indices of the characters (NUL excluded) that the normalization form changes."""
    norm = unicodedata.normalize(form, "\x00".join(chars[1:])).split("\x00")  # NUL maps to itself only
    same = np.fromiter(map(operator.eq, chars[1:], norm), dtype=bool, count=len(chars) - 1)
    return (np.flatnonzero(~same) + 1).tolist()


@lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(uint32 `normalize()` of every code point where that is one character and exact in any context,
    else its lowercase; uint16 chunk table entry of every code point). ~0.5 s, once per process.

    A character that NFKC leaves alone and that neither reorders nor composes with its neighbours keeps
    its lowercase. One that NFKC maps to a single such character (full-width forms, superscripts) takes
    that character's lowercase: the text's length is unchanged. One that NFKC maps to separators only
    (no-break spaces, "…", full-width punctuation) becomes a space: tokens are the same. Everything else,
    and U+0130 and Σ whose lowercase depends on more than the character, is flagged.
    """
    lower, cls = _lower_table(), _char_classes()
    mapped = lower.copy()
    chars = list(_all_chars(_CHECKED_CPS))
    bad = np.zeros(0x110000, dtype=bool)
    bad[: len(chars)] = _interacting(chars)
    bad[[0x130, 0x3A3]] = True
    bad[len(chars) :] = True
    for c in _changed(chars, "NFKC"):
        if bad[c]:
            continue
        cps = [ord(x) for x in unicodedata.normalize("NFKC", chars[c])]
        if bad[cps].any():
            bad[c] = True
        elif len(cps) == 1:
            mapped[c] = lower[cps[0]]
        elif cps and (cls[lower[cps]] == _SEP).all():
            mapped[c] = ord(" ")
        else:
            bad[c] = True
    entry = np.minimum(mapped, _ODD).astype(np.uint16)
    entry[cls[mapped] == _SEP] = 0  # separators are never summed, and only token characters read as _ODD
    entry |= cls[mapped].astype(np.uint16) << np.uint16(_CLASS_SHIFT)
    entry[bad] |= _FLAG
    return mapped, entry


@lru_cache(maxsize=1)
def _summand_table() -> np.ndarray:
    """uint64 mix64(c | p << 21) at [p * _TABLE_CPS + c] for positions p < _TABLE_POS; 0 for code _ODD."""
    pos = np.repeat(np.arange(_TABLE_POS, dtype=np.uint64), _TABLE_CPS)
    cps = np.tile(np.arange(_TABLE_CPS, dtype=np.uint64), _TABLE_POS)
    v = _mix64((pos << np.uint64(_POS_SHIFT)) | cps)
    v[cps == _ODD] = 0
    return v


def _chunk_codes(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The texts joined by 0, with a 0 at the end, as (summand-table codes, classes (uint8), code points,
    start of each text). Lowercase, classes and NFKC come from one table lookup per code point; only texts
    with a flagged character are normalized in Python (`normalize`). The code points are the texts' own
    (normalized ones for those texts); `_tables()[0]` maps them to their normalized form."""
    joined = "\x00".join(texts) + "\x00"
    lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
    starts = np.cumsum(lengths) - lengths
    if joined.isascii():
        low = joined.lower().encode("ascii")
        code = np.frombuffer(low, dtype=np.uint8)
        return code, np.frombuffer(low.translate(_ascii_classes()), dtype=np.uint8), code, starts
    table = _tables()[1]
    raw = _utf32(joined)
    entry = table.take(raw)
    if entry.max() >= _FLAG:
        bad = np.unique(np.searchsorted(starts, np.flatnonzero(entry >= _FLAG), side="right") - 1).tolist()
        raws, entries, at = [], [], 0
        for t in bad:
            fixed = _utf32(_nfkc(texts[t]).lower())
            raws += [raw[at : starts[t]], fixed]
            entries += [entry[at : starts[t]], table.take(fixed)]
            at = starts[t] + len(texts[t])
            lengths[t] = len(fixed) + 1
        raw = np.concatenate([*raws, raw[at:]])
        entry = np.concatenate([*entries, entry[at:]])
        starts = np.cumsum(lengths) - lengths
    cls = (entry >> np.uint16(_CLASS_SHIFT)).astype(np.uint8)
    cls &= np.uint8(3)
    entry &= np.uint16(_ODD)
    return entry, cls, raw, starts


@lru_cache(maxsize=1)
def _ascii_classes() -> bytes:
    """`bytes.translate` table: class of each ASCII byte."""
    return _char_classes()[:256].tobytes()


def _utf32(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _word_sums(code: np.ndarray, raw: np.ndarray, first: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Per token, the sum mod 2^64 of mix64(cp | pos << 21) over its characters.

    Tokens are sorted by length (a radix sort), so the tokens that have a character at position p are a
    suffix of that order: one gather per position below _TABLE_POS reads that character's code for each
    of them (from the code array shifted by p), one more its summand (from the table's row p) and adds it
    to the token's sum. No per-character position array, no segmented sum. Characters from code _ODD on
    (their table summand is 0) and positions from _TABLE_POS on (long tokens) are computed per token.
    """
    table = _summand_table().reshape(_TABLE_POS, _TABLE_CPS)
    order = np.argsort(np.minimum(lens, 255).astype(np.uint8), kind="stable")
    fs = first.take(order)
    suffix = np.searchsorted(lens.take(order), np.arange(_TABLE_POS), side="right").tolist()
    sums = np.zeros(len(first), dtype=np.uint64)
    for p, s in enumerate(suffix):
        if s == len(fs):
            break
        sums[s:] += table[p].take(code[p:].take(fs[s:]))
    out = np.empty_like(sums)
    out.put(order, sums)
    if code.dtype != np.uint8 and code.max() == _ODD:
        at = np.flatnonzero(code == _ODD)
        token = np.searchsorted(first, at, side="right") - 1
        pos = at - first[token]
        keep = pos < _TABLE_POS
        _add_summands(out, token[keep], raw[at[keep]], pos[keep])
    long_ = np.flatnonzero(lens > _TABLE_POS)
    if len(long_):
        counts = lens[long_] - _TABLE_POS
        pos = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts - _TABLE_POS, counts)
        token = np.repeat(long_, counts)
        _add_summands(out, token, raw.take(first[token] + pos), pos)
    return out


def _add_summands(sums: np.ndarray, token: np.ndarray, cps: np.ndarray, pos: np.ndarray) -> None:
    """sums[token] += mix64(cp | pos << 21) for characters given in token order (token non-decreasing); cps
    are raw chunk code points, mapped to their normalized form here."""
    if len(token) == 0:
        return
    key = _tables()[0].take(cps).astype(np.uint64)
    key |= pos.astype(np.uint64) << np.uint64(_POS_SHIFT)
    new = np.ones(len(token), dtype=bool)
    np.not_equal(token[1:], token[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    sums[token[starts]] += np.add.reduceat(_mix64(key), starts)


def _token_hashes_chunk(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(word hashes of all tokens in order, tokens per text, unspaced tokens per text) for a few texts.

    The texts' normalized code points are joined with a separator (0), so tokens never span two texts and
    every step is one numpy pass over the chunk: no per-token Python objects.
    """
    code, cls, raw, starts = _chunk_codes(texts)
    ends = np.append(starts[1:], len(code) - 1)
    # A token starts at a token character that does not continue a word (word after word); 1 & 1 is the
    # only pair of classes whose AND is 1.
    breaks = (cls[1:] & cls[:-1]) != _WORD  # character i + 1 does not continue a word from character i
    start = cls.astype(bool)
    last = start[:-1] & breaks  # the trailing 0 makes the final character a separator
    start[1:] &= breaks
    first = np.flatnonzero(start)
    per_text = np.diff(np.searchsorted(first, np.append(starts, len(code))))
    if code.dtype == np.uint8 or cls.max(initial=0) < _UNSP:
        unspaced = np.zeros(len(texts), dtype=np.int64)
    else:
        unsp_at = np.flatnonzero(cls == _UNSP)
        unspaced = np.searchsorted(unsp_at, ends) - np.searchsorted(unsp_at, starts)
    if len(first) == 0:
        return np.empty(0, dtype=np.uint32), per_text, unspaced
    sums = _word_sums(code, raw, first, np.flatnonzero(last) - first + 1)
    return (_mix64(sums) >> np.uint64(32)).astype(np.uint32), per_text, unspaced


def combine(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """Shingle hashes of every window of n consecutive word hashes (one window of all when fewer)."""
    k = min(n, len(word_hashes))
    m = len(word_hashes) - k + 1
    acc = np.full(m, _COMBINE_SEED, dtype=np.uint32)
    mul = np.uint32(_COMBINE_MUL)
    for i in range(k):
        acc ^= word_hashes[i : i + m]
        acc *= mul
    return fmix32(acc)


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
    """`shingle_hashes` of each text, computed a chunk of texts at a time (the fast path of the dedup)."""
    out: list[np.ndarray] = []
    i = 0
    while i < len(texts):
        j, cps = i, 0
        while j < len(texts) and (j == i or cps + len(texts[j]) <= _CHUNK_CPS):
            cps += len(texts[j])
            j += 1
        wh, per_text, unspaced = _token_hashes_chunk(texts[i:j])
        out += _combine_chunk(wh, per_text, np.where(2 * unspaced > per_text, char_ngram, ngram))
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
