"""Obfuscation-proof text normalization with an offset map back to the raw text.

Term matching runs on a *matching view* of the text in which the usual tricks to
dodge a blocklist are undone: NFKC (fullwidth, ligatures, math alphanumerics),
case folding, removal of zero-width / bidi / other format characters,
homoglyph folding (Cyrillic/Greek lookalikes, only inside tokens that mix them
with Latin letters so real Russian or Greek words are left alone), spaced or
dotted single letters ("f u c k", "f.u.c.k", "f-u-c-k"), leetspeak (digits
and @ $ ! | inside tokens that also hold letters, read back as words where a
symbol could be two letters: "ki11" is "kill", `filters.leet_words`; digits alone
only inside a run of leet, so ordinary numbers stay numbers) and elongation
(letter runs squeezed in words with a letter written three times: "fuuuck"). PII
detection never uses this view: it runs on the raw text.

Every step is linear in the text length and most run in C (``str.lower``,
``str.translate``, ``re``): the common ASCII document only pays for a lowercase
and three regex scans. ``NormalizedText.offsets`` maps each character of the
normalized text to the raw character it came from (``None`` when the mapping is
the identity), so a match ``[s, e)`` in the view is ``raw_span(s, e)`` in the
raw text. That makes spans, redactions and a later streaming guard exact.
"""

from __future__ import annotations

import bisect
import re
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from filters.leet_words import is_leet_evidence, read_contraction, read_lone_digits, read_token

__all__ = ["NormalizedText", "has_elongation", "normalize", "normalize_term", "shared_views", "squeeze"]

# Characters removed outright: zero-width, joiners, bidi controls, soft hyphen,
# variation selectors, tag characters, other Unicode "format" (Cf) characters.
_EXTRA_DELETE = {0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x180E}
_DELETE_RANGES = [(0xFE00, 0xFE0F), (0xE0000, 0xE007F), (0xE0100, 0xE01EF)]

# Code-point ranges whose NFKC/case mapping we precompute. The astral ranges are
# the popular obfuscation alphabets: math alphanumerics (𝐟𝐮𝐜𝐤), enclosed and
# squared letters (🅵), tags.
_TABLE_RANGES = [
    (0x80, 0xD800),
    (0xE000, 0x10000),
    (0x1D400, 0x1D800),
    (0x1F100, 0x1F200),
    (0xE0000, 0xE0080),
]
_TABLE_RANGES += [(0xE0100, 0xE01F0)]

# Latin-script lookalikes folded everywhere (they are not letters of another script).
_LATIN_LOOKALIKES = {
    "ɑ": "a",
    "ɡ": "g",
    "ı": "i",
    "ȷ": "j",
    "ℓ": "l",
    "ſ": "s",
    "ʏ": "y",
    "ᴀ": "a",
    "ʙ": "b",
    "ᴄ": "c",
    "ᴅ": "d",
    "ᴇ": "e",
    "ɢ": "g",
    "ʜ": "h",
    "ɪ": "i",
    "ᴊ": "j",
    "ᴋ": "k",
    "ʟ": "l",
    "ᴍ": "m",
    "ɴ": "n",
    "ᴏ": "o",
    "ᴘ": "p",
    "ʀ": "r",
    "ꜱ": "s",
    "ᴛ": "t",
    "ᴜ": "u",
    "ᴠ": "v",
    "ᴡ": "w",
    "ᴢ": "z",
}

# Lowercase Cyrillic / Greek / Armenian lookalikes of Latin letters (after case folding).
# Applied only inside tokens that also contain a-z.
_CONFUSABLES = {
    # Cyrillic
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "ѕ": "s",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "һ": "h",
    "ү": "y",
    "ѵ": "v",
    "ɡ": "g",
    # Greek
    "α": "a",
    "β": "b",
    "ε": "e",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "γ": "y",
    "ω": "w",
    "ϲ": "c",
    "ϳ": "j",
    # Armenian
    "օ": "o",
    "հ": "h",
    "ս": "u",
    "ց": "g",
}

_CONF_TABLE = str.maketrans(_CONFUSABLES)


def _is_deleted(cp: int) -> bool:
    if cp in _EXTRA_DELETE or any(lo <= cp <= hi for lo, hi in _DELETE_RANGES):
        return True
    return unicodedata.category(chr(cp)) == "Cf"


def _char_class(chars: list[str]) -> str:
    """A compact regex character class (ranges) for a set of characters."""
    cps = sorted({ord(c) for c in chars})
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = cps[i], cps[j]
        parts.append(re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}")
        i = j + 1
    return "[" + "".join(parts) + "]"


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], re.Pattern[str]]:
    """Precompute the per-character map for every character that `str.lower` alone gets wrong.

    Built once per process (~0.3 s). Returns the map and a regex matching runs of
    such characters.
    """
    special: dict[str, str] = {}
    for lo, hi in _TABLE_RANGES:
        for cp in range(lo, min(hi, sys.maxunicode + 1)):
            ch = chr(cp)
            if _is_deleted(cp):
                special[ch] = ""
                continue
            mapped = unicodedata.normalize("NFKC", ch).lower()
            mapped = "".join(_LATIN_LOOKALIKES.get(c, c) for c in mapped)
            # Deleted characters inside a compatibility decomposition go too.
            mapped = "".join(c for c in mapped if not _is_deleted(ord(c)))
            lowered = ch.lower()
            if mapped != lowered or len(lowered) != 1:
                special[ch] = mapped
    for ch, rep in _LATIN_LOOKALIKES.items():
        special[ch] = rep
    # BMP characters as one class (compiled to a fast bitmap) and any astral character
    # as a plain range: one big mixed class is ~20x slower to scan.
    bmp = _char_class([c for c in special if ord(c) < 0x10000])
    pattern = re.compile(f"(?:{bmp}|[\U00010000-\U0010ffff])+")
    return special, pattern


@lru_cache(maxsize=1)
def _special_gate() -> re.Pattern[str]:
    """One special character (no repeat: a `(...)+` group scans ~3x slower)."""
    special, _ = _tables()
    bmp = _char_class([c for c in special if ord(c) < 0x10000])
    return re.compile(f"{bmp}|[\U00010000-\U0010ffff]")


_CONF_CHARS_RE = re.compile(_char_class(list(_CONFUSABLES)))
# A whole token (at most 64 word characters, so a 10 MB "word" costs nothing)
# that holds both a-z and a lookalike.
_MIXED_TOKEN_RE = re.compile(
    r"(?<!\w)(?=\w{0,63}[a-z])(?=\w{0,63}" + _char_class(list(_CONFUSABLES)) + r")\w{1,64}(?!\w)"
)
# Three or more single letters separated by one or two of " .-_*·•/" ("f u c k", "f.u.c.k").
_SPACED_RE = re.compile(r"(?<![^\W_])(?:[^\W_][ .\-_*·•/]{1,2}){2,}[^\W_](?![^\W_])")
_SEPARATORS = frozenset(" .-_*·•/")
# Part of every spaced run: a separator, a letter, separators, a letter, then no letter. It starts at
# the separator right before the run's second letter, so at most 2 characters after the run itself;
# scanning for it first (starting at the rarer separators) skips the slow full scan on most prose.
_SPACED_GATE_RE = re.compile(r"[ .\-_*·•/][^\W_][ .\-_*·•/]{1,2}[^\W_](?![^\W_])")
# Tokens (at most 64 chars) of a-z, digits and leet symbols that contain at least one leet symbol.
_LEET_RUN_RE = re.compile(r"[0-9@$!|]+")
_TOKEN_RUN_RE = re.compile(r"[a-z0-9@$!|]+")
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789@$!|")
_HAS_LEET_RE = re.compile(r"[0-9@$!|]")
# Digits alone are read as a word within this many tokens of a token with a leet symbol between two
# letters ("4" in "m4ke 4 bom8"), looking at most _NEIGHBOUR_CHARS characters away; at most 8 digits.
LEET_NEIGHBOURS = 3
_NEIGHBOUR_CHARS = 64
# A leet symbol between two letters ("m4ke", "r1d"): codes and units ("i7", "5am", "10th") have none.
_LEET_BETWEEN_LETTERS_RE = re.compile(r"[a-z][0-9@$!|]+[a-z]")
_LONE_DIGITS_MAX = 8


@dataclass(frozen=True)
class NormalizedText:
    """The matching view of a raw text and the map back to raw offsets."""

    raw: str
    text: str
    offsets: np.ndarray | None  # offsets[i] = raw index of text[i]; None means identity
    squeezed: tuple[tuple[int, int], ...] = ()  # spans of elongated words squeezed ("fuuuck" -> "fuck")
    spaced: tuple[tuple[int, int], ...] = ()  # spans of collapsed spaced-letter runs ("f u c k" -> "fuck")
    # raw index of the last raw character text[i] stands for (a squeezed run's last letter); None: offsets
    end_offsets: np.ndarray | None = None

    def raw_index(self, i: int) -> int:
        return i if self.offsets is None else int(self.offsets[i])

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The raw half-open range covering normalized characters [start, end)."""
        if end <= start:
            return start, start
        if self.offsets is None:
            return start, end
        last = self.offsets if self.end_offsets is None else self.end_offsets
        return int(self.offsets[start]), int(last[end - 1]) + 1


def _compose(outer: np.ndarray | None, inner: np.ndarray | None) -> np.ndarray | None:
    """Offsets of a second step (inner: new index -> previous index) composed onto the first."""
    if inner is None:
        return outer
    if outer is None:
        return inner
    return outer[inner]


def _fold_chars(text: str) -> tuple[str, np.ndarray | None]:
    """NFKC + lowercase + deletions, via str.lower on plain runs and the table on special runs."""
    if text.isascii():
        return text.lower(), None
    special, special_re = _tables()
    if _special_gate().search(text) is None:
        return text.lower(), None
    pieces: list[str] = []
    idx: list[int] = []
    pos = 0
    same_length = True
    for m in special_re.finditer(text):
        s, e = m.span()
        if s > pos:
            pieces.append(text[pos:s].lower())
            idx.extend(range(pos, s))
        for k in range(s, e):
            ch = text[k]
            rep = special.get(ch)
            if rep is None:  # an astral character without a mapping (emoji, ...)
                rep = ch.lower()
            if len(rep) != 1:
                same_length = False
            pieces.append(rep)
            idx.extend([k] * len(rep))
        pos = e
    if pos < len(text):
        pieces.append(text[pos:].lower())
        idx.extend(range(pos, len(text)))
    out = "".join(pieces)
    if same_length:
        return out, None
    return out, np.fromiter(idx, dtype=np.int64, count=len(idx))


def _fold_confusables(text: str) -> str:
    """Fold lookalikes inside mixed-script tokens (length preserving)."""
    if text.isascii() or _CONF_CHARS_RE.search(text) is None:
        return text
    pieces: list[str] = []
    pos = 0
    for m in _MIXED_TOKEN_RE.finditer(text):
        s, e = m.span()
        pieces.append(text[pos:s])
        pieces.append(text[s:e].translate(_CONF_TABLE))
        pos = e
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


def _spaced_keep_from(text: str, s: int, e: int) -> int:
    """Where separator removal starts in a spaced run [s, e).

    An English one-letter word ("a", "i") right before a spaced word ("a f u c k")
    is kept apart, otherwise the collapsed word would lose its word boundary.
    """
    if text[s] in "ai" and sum(1 for c in text[s:e] if c not in _SEPARATORS) >= 4:
        k = s + 1
        while k < e and text[k] in _SEPARATORS:
            k += 1
        return k
    return s


def _collapse_spaced(text: str) -> tuple[str, np.ndarray | None, list[tuple[int, int]]]:
    """Drop the separators of spaced/dotted single-letter runs ("f u c k" -> "fuck"). Also returns
    the collapsed runs' spans in the new text."""
    gate = _SPACED_GATE_RE.search(text)
    if gate is None:
        return text, None, []
    matches = list(_SPACED_RE.finditer(text, max(0, gate.start() - 2)))  # lookbehinds see the text before
    if not matches:
        return text, None, []
    keep = np.ones(len(text), dtype=bool)
    pieces: list[str] = []
    runs: list[tuple[int, int]] = []
    pos = out_len = 0
    for m in matches:
        s, e = m.span()
        k0 = _spaced_keep_from(text, s, e)
        for k in range(k0, e):
            if text[k] in _SEPARATORS:
                keep[k] = False
        letters = "".join(c for c in text[k0:e] if c not in _SEPARATORS)
        pieces += [text[pos:k0], letters]
        out_len += k0 - pos
        runs.append((out_len, out_len + len(letters)))
        out_len += len(letters)
        pos = e
    pieces.append(text[pos:])
    return "".join(pieces), np.flatnonzero(keep), runs


_SPACE_CODES = [
    c for c in range(0x3001) if chr(c).isspace()
]  # every str.isspace code point (the last: U+3000)
_IS_SPACE = np.zeros(0x3001 + 1, dtype=bool)  # the last entry (False) also stands for every higher code point
_IS_SPACE[_SPACE_CODES] = True


def _collapse_whitespace(text: str) -> tuple[str, np.ndarray | None]:
    """Every run of whitespace (newlines, tabs, several spaces, Unicode spaces) as one space, and none
    at the ends (as `" ".join(text.split())`), so a multi-word term ("kill yourself") is not dodged by
    a double space or a line break. Vectorized over code points with a table of `str.isspace`."""
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if not len(cp):
        return text, None
    space = np.take(_IS_SPACE, cp, mode="clip")  # code points past the table are not spaces
    inner_run = space[1:] & space[:-1]
    if not (space[0] or space[-1] or inner_run.any()):
        if not (space & (cp != 32)).any():
            return text, None
        out = cp.copy()
        out[space] = 32
        return out.tobytes().decode("utf-32-le", "surrogatepass"), None  # one for one: same offsets
    keep = ~space
    keep[1:] |= ~space[:-1]  # the first character of an inner run stands for it, as " "
    body = np.flatnonzero(~space)
    keep[: body[0] if len(body) else len(cp)] = False  # no whitespace at the ends
    if len(body):
        keep[body[-1] + 1 :] = False
    kept = np.flatnonzero(keep)
    out = cp[kept]
    out[space[kept]] = 32
    return out.tobytes().decode("utf-32-le", "surrogatepass"), kept


def _moved(spans: list[tuple[int, int]], inner: np.ndarray | None) -> list[tuple[int, int]]:
    """Spans of a text carried into the text a step made of it (inner: new index -> old index)."""
    if inner is None or not spans:
        return spans
    flat = np.searchsorted(inner, np.asarray(spans, dtype=np.int64).ravel())
    return [(int(a), int(b)) for a, b in flat.reshape(-1, 2)]


def _fold_leet(text: str) -> str:
    """Leetspeak -> letters (length preserving), read as English words where a symbol is ambiguous.

    Scans runs of leet symbols (a simple class: the fastest scan `re` has) and only
    widens a run to its token when a letter touches it. A token
    is a maximal run of a-z, digits and leet symbols of at most 64 characters; a longer run
    is not a word and is left alone (skipped whole, so a 10 MB "a@a@..." costs one scan).
    A token is read by `filters.leet_words.read_token` ("ki11" -> "kill", not "kiii"). Digits
    alone ("4", "70") are read only inside a run of leet: within `LEET_NEIGHBOURS` tokens of a
    token with a leet symbol between two letters whose reading is a frequent word ("m4ke", "r1d";
    not codes and units such as "i7", "5am", "100k", "10th": `filters.leet_words.is_leet_evidence`),
    only as a word, and never when they are a token of a blocklist term ("14", "2", "100"). A
    contraction's digits ("it'5") are read only after letters or a token read as a word.
    """
    if _HAS_LEET_RE.search(text) is None:
        return text
    n = len(text)
    spans: list[tuple[int, int]] = []
    lone: list[tuple[int, int]] = []  # runs of digits that no letter touches
    pos = 0  # everything before pos is settled; a token never starts before it
    while (m := _LEET_RUN_RE.search(text, pos)) is not None:
        s, e = m.span()
        if not ((s > 0 and "a" <= text[s - 1] <= "z") or (e < n and "a" <= text[e] <= "z")):
            if e - s <= _LONE_DIGITS_MAX and text[s:e].isdigit():
                lone.append((s, e))
            pos = e
            continue
        end = _TOKEN_RUN_RE.match(text, s).end()
        start, floor = s, max(pos, s - 65)
        while start > floor and text[start - 1] in _TOKEN_CHARS:
            start -= 1
        if end - start <= 64:
            spans.append((start, end))
        pos = end
    if not spans:
        return text
    readings: dict[int, tuple[int, str]] = {}  # token start -> (token end, its reading)
    words: list[tuple[int, int]] = []  # tokens of leet that read as frequent words: the evidence
    for ts, te in spans:
        tok = text[ts:te]
        core = tok.rstrip("!|")  # "fuck!" keeps its "!" as punctuation
        reading = read_token(core)
        readings[ts] = (te, reading + tok[len(core) :])
        if _LEET_BETWEEN_LETTERS_RE.search(core) and is_leet_evidence(reading):
            words.append((ts, te))
    read_ends = {te for te, _ in readings.values()}  # where a token read as letters ends
    for s, e in lone if words else ():
        word = _read_lone(text, s, e, read_ends)
        if word is not None and _near_leet(text, s, e, words):
            readings[s] = (e, word)
            read_ends.add(e)
    pieces: list[str] = []
    pos = 0
    for ts in sorted(readings):
        te, word = readings[ts]
        pieces.append(text[pos:ts])
        pieces.append(word)
        pos = te
    pieces.append(text[pos:])
    return "".join(pieces)


def _read_lone(text: str, s: int, e: int, read_ends: set[int]) -> str | None:
    """The reading of digits no letter touches: a contraction's ending after a word and an apostrophe
    ("it'5", "137'5" once "137" reads "let"; not "5'11"), else a word."""
    if s >= 2 and text[s - 1] in "'’":
        after_word = "a" <= text[s - 2] <= "z" or (s - 1) in read_ends
        return read_contraction(text[s:e]) if after_word else None
    return read_lone_digits(text[s:e])


def _near_leet(text: str, s: int, e: int, spans: list[tuple[int, int]]) -> bool:
    """Whether one of `spans` (tokens of leet that read as words) lies within `LEET_NEIGHBOURS` tokens
    of text[s:e]."""
    k = bisect.bisect_left(spans, (s, e))
    return (k > 0 and _close(text, spans[k - 1][1], s)) or (k < len(spans) and _close(text, e, spans[k][0]))


def _close(text: str, a: int, b: int) -> bool:
    """Whether text[a:b] is at most `_NEIGHBOUR_CHARS` long and holds fewer than `LEET_NEIGHBOURS` tokens."""
    return b - a <= _NEIGHBOUR_CHARS and len(_TOKEN_RUN_RE.findall(text, a, b)) < LEET_NEIGHBOURS


_LETTER_RE = re.compile(r"[^\W\d_]")  # a letter, as the term boundaries and `re` see it
_ASCII_LETTERS = np.array([_LETTER_RE.fullmatch(chr(c)) is not None for c in range(128)])
_REPEATS_RE = re.compile(r"([^\W\d_])\1+")


def squeeze(word: str) -> str:
    """Every run of one repeated letter cut to one letter ("fuuuck" -> "fuck", "boob" -> "bob")."""
    return _REPEATS_RE.sub(r"\1", word)


def _letters(cp: np.ndarray) -> np.ndarray:
    """Which code points are letters (ASCII by table, others once per distinct code point)."""
    mask = np.zeros(len(cp), dtype=bool)
    ascii_ = cp < 128
    mask[ascii_] = _ASCII_LETTERS[cp[ascii_]]
    if not ascii_.all():
        other = cp[~ascii_]
        distinct = np.unique(other)
        is_letter = np.array([_LETTER_RE.fullmatch(chr(c)) is not None for c in distinct.tolist()])
        mask[~ascii_] = is_letter[np.searchsorted(distinct, other)]
    return mask


def _fold_elongation(
    text: str,
) -> tuple[str, np.ndarray | None, np.ndarray | None, tuple[tuple[int, int], ...]]:
    """Squeeze the letter runs of words holding an elongation ("fuuuck" -> "fuck").

    Only words (runs of letters) with a letter written three times in a row change, so ordinary
    double letters ("class", "book") stay. Vectorized over code points: linear, and a text
    without a tripled character costs two comparisons. Returns the text, the offsets of the change
    (first and last character of each squeezed run) and the squeezed words' spans in the new text
    (blocklist terms with double letters, squeezed, match only inside those)."""
    if len(text) < 3:
        return text, None, None, ()
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    tripled = np.flatnonzero((cp[2:] == cp[1:-1]) & (cp[1:-1] == cp[:-2]))
    if not len(tripled) or not _letters(cp[tripled]).any():  # none, or only "...", "---", blanks
        return text, None, None, ()
    letter = _letters(cp)
    tripled = tripled[letter[tripled]]
    word_id = np.cumsum(~letter)  # letters of one word share an id
    elongated_word = np.zeros(int(word_id[-1]) + 1, dtype=bool)
    elongated_word[word_id[tripled]] = True
    in_elongated = letter & elongated_word[word_id]
    repeat = np.zeros(len(cp), dtype=bool)
    repeat[1:] = cp[1:] == cp[:-1]
    keep = ~(in_elongated & repeat)
    kept = np.flatnonzero(keep)
    out = cp[kept].tobytes().decode("utf-32-le", "surrogatepass")
    new_pos = np.cumsum(keep) - 1
    where = np.flatnonzero(in_elongated & keep)
    _, starts = np.unique(word_id[where], return_index=True)
    ends = np.append(starts[1:], len(where)) - 1
    spans = tuple(zip(new_pos[where[starts]].tolist(), (new_pos[where[ends]] + 1).tolist(), strict=True))
    run_last = np.append(kept[1:], len(cp)) - 1  # everything up to the next kept character
    return out, kept.astype(np.int64), run_last.astype(np.int64), spans


# At most this many raw characters' views are kept per block (~9 bytes each with offsets): a batch of
# 2,048 web documents or a few huge ones cannot pin hundreds of MB; texts past it are normalized as usual.
SHARED_VIEWS_MAX_CHARS = 4_000_000


class _SharedViews:
    """The views built inside one `shared_views` block, and the characters they may still hold."""

    def __init__(self) -> None:
        self.views: dict[str, NormalizedText] = {}
        self.room = SHARED_VIEWS_MAX_CHARS


_SHARED_VIEWS: ContextVar[_SharedViews | None] = ContextVar("winnow_shared_views", default=None)


@contextmanager
def shared_views() -> Iterator[None]:
    """Within this block `normalize(raw)` builds each distinct text's view once and hands the same
    read-only view to every later caller: a policy's term rules and harm classifier read the same
    view of the same document. The engine opens one block per batch; it keeps at most
    `SHARED_VIEWS_MAX_CHARS` characters' views and drops them all when the block ends. A nested
    block reuses the outer one."""
    if _SHARED_VIEWS.get() is not None:
        yield
        return
    token = _SHARED_VIEWS.set(_SharedViews())
    try:
        yield
    finally:
        _SHARED_VIEWS.reset(token)


def normalize(raw: str, elongation: bool = True) -> NormalizedText:
    """The matching view of ``raw`` with offsets to the raw text. Never raises on str input, except
    `filters.leet_words.WordListError` when the pinned word list is missing (fail closed)."""
    shared = _SHARED_VIEWS.get() if elongation else None
    if shared is None:
        return _normalized(raw, elongation)
    view = shared.views.get(raw)
    if view is None:
        view = _normalized(raw, elongation)
        if len(raw) <= shared.room:
            shared.views[raw] = view
            shared.room -= len(raw)
    return view


def _normalized(raw: str, elongation: bool) -> NormalizedText:
    text, offsets = _fold_chars(raw)
    text = _fold_confusables(text)
    text, inner, spaced = _collapse_spaced(text)
    offsets = _compose(offsets, inner)
    text = _fold_leet(text)
    text, inner = _collapse_whitespace(text)
    offsets = _compose(offsets, inner)
    spaced = _moved(spaced, inner)
    if not elongation:
        return NormalizedText(raw=raw, text=text, offsets=offsets, spaced=tuple(spaced))
    text, inner, inner_last, squeezed = _fold_elongation(text)
    end_offsets = _compose(offsets, inner_last) if inner_last is not None else None
    offsets = _compose(offsets, inner)
    spaced = _moved(spaced, inner)
    for arr in (offsets, end_offsets):  # a view may be shared by several detectors: nobody writes to it
        if arr is not None:
            arr.setflags(write=False)
    return NormalizedText(
        raw=raw,
        text=text,
        offsets=offsets,
        squeezed=squeezed,
        end_offsets=end_offsets,
        spaced=tuple(spaced),
    )


def normalize_term(term: str) -> str:
    """The same view for a blocklist term, so terms and texts are folded identically; elongation is
    left to the matcher ("xxx" stays "xxx", see `squeeze`)."""
    return normalize(term.strip(), elongation=False).text


def has_elongation(term: str) -> bool:
    """Whether a (normalized) term holds a letter written three times in a row."""
    return any(
        a == b == c and _LETTER_RE.fullmatch(a) for a, b, c in zip(term, term[1:], term[2:], strict=False)
    )
