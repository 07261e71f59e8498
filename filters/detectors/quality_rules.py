"""The Gopher, C4 and FineWeb quality rules, decision-for-decision datatrove's.

Each function mirrors one datatrove filter's `filter()` with its default
parameters (datatrove 0.10: `GopherQualityFilter`, `GopherRepetitionFilter`,
`C4QualityFilter`, `FineWebQualityFilter`), but takes the word list from
`ChunkTokenizer` instead of re-running spaCy, and evaluates every rule (no
early exit) so that a graded quality score can be computed. The *reason* is
the first failing rule in datatrove's order, i.e. exactly what datatrove
returns. Tests compare both decision and reason with datatrove on real text.

A rule result is `(name, passed)`; names are datatrove's reason strings.
"""

from __future__ import annotations

import re
from collections import Counter
from operator import methodcaller

import numpy as np
from datatrove.pipeline.filters.c4_filters import CITATION_REGEX, ELLIPSIS, END_PUNCTUATION, POLICY_SUBSTRINGS
from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS
from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION

from filters.detectors.quality_tokenizer import ChunkTokenizer

Rule = tuple[str, bool]

_PARAGRAPH = re.compile(r"\n{2,}")
_LINES = re.compile("\n+")
_STOP_CHARS = tuple(TERMINAL_PUNCTUATION)
_STOP_WORDS = frozenset(STOP_WORDS)


_FIELD = 64  # bit width of each packed counter (word counts stay far below 2**64)
_FIELD_MASK = (1 << _FIELD) - 1
_MAX_WORD_STATS = 1_000_000
_word_stats: dict[str, int] = {}


def _word_stat(word: str) -> int:
    """A word's Gopher counters packed in one int: has a letter, is non-symbol, non-symbol length.

    Packing lets one C-level `sum(map(...))` add all three over a document's words."""
    non_symbol = any(ch not in PUNCTUATION_SET for ch in word)
    alpha = any(c.isalpha() for c in word)
    return alpha | (non_symbol << _FIELD) | ((len(word) if non_symbol else 0) << (2 * _FIELD))


def _word_totals(words: list[str]) -> tuple[int, int, int]:
    """(words with a letter, non-symbol words, characters in non-symbol words), memoized per word.

    Words repeat heavily within and across documents, so per-character checks run once per distinct
    word. When the memo is full a new dict replaces it (never cleared in place, so a concurrent
    caller holding the old one still finds its words)."""
    global _word_stats
    memo = _word_stats
    missing = set(words).difference(memo)
    if missing:
        if len(memo) + len(missing) > _MAX_WORD_STATS:
            memo = _word_stats = {}
            missing = set(words)
        for w in missing:
            memo[w] = _word_stat(w)
    total = sum(map(memo.__getitem__, words))
    return total & _FIELD_MASK, (total >> _FIELD) & _FIELD_MASK, total >> (2 * _FIELD)


def gopher_quality(text: str, words: list[str]) -> list[Rule]:
    """GopherQualityFilter with default thresholds."""
    n_words = len(words)
    alpha, n_ns, ns_chars = _word_totals(words)
    rules: list[Rule] = [("gopher_short_doc", n_ns >= 50), ("gopher_long_doc", n_ns <= 100_000)]
    if n_ns:
        avg = ns_chars / n_ns
        rules += [("gopher_below_avg_threshold", avg >= 3), ("gopher_above_avg_threshold", avg <= 10)]
    else:
        rules += [("gopher_below_avg_threshold", False), ("gopher_above_avg_threshold", False)]
    if n_words:
        rules.append(("gopher_too_many_hashes", text.count("#") / n_words <= 0.1))
        ellipses = text.count("...") + text.count("…")
        rules.append(("gopher_too_many_ellipsis", ellipses / n_words <= 0.1))
    else:
        rules += [("gopher_too_many_hashes", False), ("gopher_too_many_ellipsis", False)]
    lines = text.splitlines()
    if lines:
        bullets = sum(s.lstrip().startswith(("•", "-")) for s in lines)
        ellipsis_end = sum(s.rstrip().endswith(("...", "…")) for s in lines)
        rules.append(("gopher_too_many_bullets", bullets / len(lines) <= 0.9))
        rules.append(("gopher_too_many_end_ellipsis", ellipsis_end / len(lines) <= 0.3))
    else:
        rules += [("gopher_too_many_bullets", False), ("gopher_too_many_end_ellipsis", False)]
    if n_words:
        rules.append(("gopher_below_alpha_threshold", alpha / n_words >= 0.8))
    else:
        rules.append(("gopher_below_alpha_threshold", False))
    rules.append(("gopher_enough_stop_words", len(_STOP_WORDS.intersection(words)) >= 2))
    return rules


def _dup_counts(items: list[str]) -> tuple[int, int]:
    """datatrove's find_duplicates: (duplicate elements, their characters)."""
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars


_BASE = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2**64
_BASE_INV = pow(_BASE, -1, 1 << 64)
_GRAM_MUL = np.uint64(0x100000001B3)  # odd: combines word hashes into an n-gram code (mod 2**64)
_LEN_MASK = np.uint64((1 << 24) - 1)  # n-gram lengths packed under a hash in one sort key

_powers_cache: tuple[np.ndarray, np.ndarray] = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))


def _powers(m: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**k and BASE**-k (mod 2**64) for k <= m, from a cache that grows by doubling (replaced
    whole, never mutated, so concurrent readers are safe)."""
    global _powers_cache
    pow_, inv_pow = _powers_cache
    if len(pow_) <= m:
        size = max(m + 1, 2 * len(pow_), 1 << 14)
        pow_ = np.full(size, _BASE, dtype=np.uint64)
        inv_pow = np.full(size, _BASE_INV, dtype=np.uint64)
        pow_[0] = inv_pow[0] = 1
        with np.errstate(over="ignore"):
            pow_ = np.cumprod(pow_, dtype=np.uint64)
            inv_pow = np.cumprod(inv_pow, dtype=np.uint64)
        _powers_cache = (pow_, inv_pow)
    return pow_, inv_pow


class WordSpans:
    """A document's words joined without separators ("".join, as datatrove's find_all_duplicate
    joins n-grams), with word offsets and vectorized substring hashes: the shared input of the
    n-gram repetition rules, built once per document in numpy.

    Hashes are position-independent polynomial hashes (mod 2**64) of joined[a:b]: equal substrings
    always hash equal, so a collision can only make strings look equal, never different."""

    def __init__(self, words: list[str]):
        self.words = words
        n = len(words)
        # spaCy words never hold whitespace, so in " ".join the spaces are exactly the word boundaries
        cp = np.frombuffer(" ".join(words).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        gaps = np.flatnonzero(cp == 32)
        off = np.zeros(n + 1, dtype=np.int64)
        if len(gaps) == max(n - 1, 0):
            off[1:n] = gaps - np.arange(len(gaps))
            off[n] = len(cp) - len(gaps)
            chars = cp[cp != 32]
        else:  # a word with a space in it (not from spaCy): count lengths the slow way
            off[1:] = np.cumsum([len(w) for w in words])
            chars = np.frombuffer("".join(words).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        self.off = off
        self._pow, inv_pow = _powers(len(chars))
        self._prefix = np.zeros(len(chars) + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.cumsum((chars.astype(np.uint64) + np.uint64(1)) * inv_pow[: len(chars)], out=self._prefix[1:])

    def hashes(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Hashes of joined[a:b] for character offsets a <= b (arrays of any shape)."""
        with np.errstate(over="ignore"):
            return (self._prefix[b] - self._prefix[a]) * self._pow[a] + (b - a).astype(np.uint64) * np.uint64(
                _BASE
            )

    def ngram_hashes(self, n: int) -> np.ndarray:
        """Hash of the "".join of words[p:p+n] for every start p."""
        return self.hashes(self.off[:-n], self.off[n:])


def top_ngram_chars(words: list[str], n: int) -> int | None:
    """Characters of the most frequent " "-joined n-gram times its count (datatrove's
    find_top_duplicate), None when there are fewer than n words.

    Words never contain spaces, so " "-joined n-grams are equal exactly when the word tuples are.
    Ties go to the first n-gram seen, as in `Counter.most_common`."""
    if len(words) < n:
        return None
    gram, count = Counter(zip(*(words[k:] for k in range(n)), strict=False)).most_common(1)[0]
    return (sum(len(w) for w in gram) + n - 1) * count


def top_ngram_within(spans: WordSpans, limits: dict[int, int]) -> dict[int, bool]:
    """For each n, whether `top_ngram_chars(words, n)` is None or at most `limits[n]`.

    An upper bound settles most documents without counting tuples: the largest count times
    " "-joined length over all distinct n-grams (the first most frequent one is among them). n-grams
    are told apart by sort keys packing a code of their word hashes with their length, all n in one
    numpy sort (a row each); a collision only merges groups of equal length, which can only raise
    the bound. Documents over the bound get the exact count."""
    words, off = spans.words, spans.off
    n_words = len(words)
    out = {n: True for n in limits if n_words < n}  # datatrove: no n-gram, no rule
    ns = sorted(n for n in limits if n not in out)
    if not ns:
        return out
    width = n_words - ns[0] + 1
    keys = np.zeros((len(ns), width), dtype=np.uint64)  # padding: length 0, never counted
    h = spans.ngram_hashes(1)
    codes = h
    for n in range(1, ns[-1] + 1):
        if n > 1:
            with np.errstate(over="ignore"):
                codes = codes[:-1] * _GRAM_MUL + h[n - 1 :]
        if n in ns:
            lengths = off[n:] - off[:-n]
            if int(lengths.max()) > int(_LEN_MASK):  # an n-gram over 16 M characters: count exactly
                return {**out, **{m: top_ngram_chars(words, m) <= limits[m] for m in ns}}
            keys[ns.index(n), : len(codes)] = (codes & ~_LEN_MASK) | lengths.astype(np.uint64)
    keys.sort(axis=1)
    new_group = np.ones(keys.shape, dtype=bool)
    new_group[:, 1:] = keys[:, 1:] != keys[:, :-1]
    starts = np.flatnonzero(new_group.ravel())  # every row starts a group: groups stay in their row
    counts = np.diff(starts, append=keys.size)
    lengths = (keys.ravel()[starts] & _LEN_MASK).astype(np.int64)
    rows = starts // width
    chars = np.where(lengths > 0, lengths + np.asarray(ns)[rows] - 1, 0)
    bounds = np.maximum.reduceat(counts * chars, np.searchsorted(starts, np.arange(len(ns)) * width))
    for n, bound in zip(ns, bounds.tolist(), strict=True):
        out[n] = bound <= limits[n] or top_ngram_chars(words, n) <= limits[n]
    return out


def _dup_ngram_chars_exact(joined: str, offsets: list[int], n: int, h: np.ndarray) -> int:
    """datatrove's find_all_duplicate, visiting only the positions that can be repeats.

    datatrove walks every position, adding each n-gram to a set; at a repeat it
    counts the characters and jumps n positions (the jumped-over n-grams are
    never added). Only positions whose hash occurred earlier can be repeats, so
    we jump from one such candidate to the next; a candidate is a repeat when an
    earlier, not jumped-over position holds the same string (compared exactly).
    """
    limit = len(offsets) - 1 - n + 1
    _, inverse, counts = np.unique(h, return_inverse=True, return_counts=True)
    repeated = np.flatnonzero(counts[inverse] > 1)
    groups: dict[int, list[int]] = {}
    candidates: list[tuple[int, list[int], int]] = []  # (position, its group, how many earlier members)
    for pos in repeated.tolist():
        members = groups.setdefault(int(inverse[pos]), [])
        if members:
            candidates.append((pos, members, len(members)))
        members.append(pos)
    skipped: set[int] = set()
    chars = idx = 0
    for pos, members, n_earlier in candidates:
        if pos < idx or pos >= limit:
            continue
        gram = joined[offsets[pos] : offsets[pos + n]]
        earlier = (members[k] for k in range(n_earlier))
        if any(q not in skipped and joined[offsets[q] : offsets[q + n]] == gram for q in earlier):
            chars += len(gram)
            skipped.update(range(pos + 1, pos + n))
            idx = pos + n
    return chars


def dup_ngram_chars(spans: WordSpans, n: int) -> int:
    """Characters in repeated ""-joined n-grams (datatrove's find_all_duplicate), exactly."""
    if len(spans.words) < n + 1:
        return 0
    return _dup_ngram_chars_exact("".join(spans.words), spans.off.tolist(), n, spans.ngram_hashes(n))


def dup_ngram_within(spans: WordSpans, limits: dict[int, int]) -> dict[int, bool]:
    """For each n, whether `dup_ngram_chars(spans, n) <= limits[n]`, usually without the exact walk.

    Every repeat datatrove counts starts at a position whose n-gram string occurred earlier, so the
    total length of all such later occurrences bounds the count from above. All n are bounded in one
    numpy sort of keys packing a substring hash with the n-gram's length: equal strings give equal
    keys, and a collision only merges groups, which can only raise the bound. When the bound is
    within the limit the answer is settled; other documents take the exact walk."""
    n_words = len(spans.words)
    out = {n: limit >= 0 for n, limit in limits.items() if n_words < n + 1}  # under two n-grams: no repeat
    ns = sorted(n for n in limits if n not in out)
    if not ns:
        return out
    starts = spans.off[: n_words - ns[0] + 1]
    ends = np.arange(len(starts))[None, :] + np.asarray(ns)[:, None]  # one row per n, in words
    valid = ends <= n_words
    stops = spans.off[np.minimum(ends, n_words)]
    lengths = stops - starts
    if int(lengths.max()) <= int(_LEN_MASK):
        keys = (spans.hashes(np.broadcast_to(starts, stops.shape), stops) & ~_LEN_MASK) | lengths.astype(
            np.uint64
        )
        keys[~valid] = 0  # padding: length 0 adds nothing
        keys.sort(axis=1)
        repeats = keys[:, 1:] == keys[:, :-1]
        bounds = np.where(repeats, keys[:, 1:] & _LEN_MASK, np.uint64(0)).sum(axis=1).tolist()
    else:
        bounds = [None] * len(ns)  # an n-gram over 16 M characters: only the exact walk
    for n, bound in zip(ns, bounds, strict=True):
        out[n] = (bound is not None and bound <= limits[n]) or dup_ngram_chars(spans, n) <= limits[n]
    return out


TOP_NGRAMS = ((2, 0.2), (3, 0.18), (4, 0.16))
DUP_NGRAMS = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))


def gopher_repetition(text: str, words: list[str]) -> list[Rule]:
    """GopherRepetitionFilter with default thresholds."""
    if not text:
        return [("empty", False)]
    size = len(text)
    paragraphs = _PARAGRAPH.split(text.strip())
    p_dup, p_chars = _dup_counts(paragraphs)
    lines = _LINES.split(text)
    l_dup, l_chars = _dup_counts(lines)
    rules: list[Rule] = [
        ("dup_para_frac", p_dup / len(paragraphs) <= 0.3),
        ("dup_para_char_frac", p_chars / size <= 0.2),
        ("dup_line_frac", l_dup / len(lines) <= 0.3),
        ("dup_line_char_frac", l_chars / size <= 0.2),
    ]
    # datatrove's `chars / size <= frac` as a limit on chars (the same comparison, made once per n)
    spans = WordSpans(words)
    top_within = top_ngram_within(spans, {n: _largest_within(size, frac) for n, frac in TOP_NGRAMS})
    for n, _ in TOP_NGRAMS:
        rules.append((f"top_{n}_gram", top_within[n]))
    within = dup_ngram_within(spans, {n: _largest_within(size, frac) for n, frac in DUP_NGRAMS})
    for n, _ in DUP_NGRAMS:
        rules.append((f"duplicated_{n}_n_grams", within[n]))
    return rules


def _largest_within(size: int, frac: float) -> int:
    """The largest character count c with `c / size <= frac` (datatrove's float comparison)."""
    c = int(size * frac)
    while (c + 1) / size <= frac:
        c += 1
    while c >= 0 and c / size > frac:
        c -= 1
    return c


MIN_SENTENCES = 5  # C4QualityFilter's min_num_sentences
# A word (str.split piece; `\s` is str.isspace) over C4's 1000-character limit. Anchored at word
# starts, so each character is read at most twice whatever the word lengths.
_LONG_WORD = re.compile(r"(?<!\S)\S{1001}")


def c4(text: str, tokenizer: ChunkTokenizer) -> list[Rule]:
    """C4QualityFilter with default options (split on lines; the text is scored, never rewritten).

    datatrove returns at the first line with "lorem ipsum" or "{" (among lines
    that survive the earlier line filters); the rule that fires first in line
    order is listed first, so "first failing rule" gives datatrove's reason.
    """
    sentence_lines: list[str] = []
    doc_rules: list[Rule] = []
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) > 1000 and _LONG_WORD.search(line):
            continue
        few_words = len(line.split(None, 2)) < 3  # counted before citations are removed, as datatrove
        line = CITATION_REGEX.sub("", line)
        if not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS):
            continue
        if few_words:
            continue
        line_l = line.lower()
        if "lorem ipsum" in line_l:
            doc_rules.append(("lorem_ipsum", False))
            continue  # datatrove stops here; later lines cannot change the decision
        if "javascript" in line_l:
            continue
        if "{" in line:
            doc_rules.append(("curly_bracket", False))
            continue
        if any(p in line_l for p in POLICY_SUBSTRINGS):
            continue
        sentence_lines.append(line)
    # Only "at least five" matters, and every kept line holds a sentence: the sentencizer runs only
    # when there are fewer than five lines, and stops once five sentences are found.
    enough_sentences = tokenizer.has_sentences(sentence_lines, MIN_SENTENCES)
    # The first whole-document failure in line order is datatrove's reason; then the other rule.
    rules: list[Rule] = doc_rules[:1]
    failed = {name for name, _ in doc_rules}
    rules += [
        (name, name not in failed)
        for name in ("lorem_ipsum", "curly_bracket")
        if rules[:1] != [(name, False)]
    ]
    rules.append(("too_few_sentences", enough_sentences))
    return rules


def fineweb(text: str, words: list[str]) -> list[Rule]:
    """FineWebQualityFilter with default thresholds."""
    lines = [line for line in text.split("\n") if line.strip() != ""]
    if not lines:
        return [("empty", False)]
    n = len(lines)
    punct = sum(map(methodcaller("endswith", _STOP_CHARS), lines)) / n
    short = sum(1 for length in map(len, lines) if length <= 30) / n
    dup = _dup_counts(lines)[1] / len(text.replace("\n", ""))
    rules: list[Rule] = [
        ("line_punct_ratio", punct >= 0.12),
        ("short_line_ratio", short <= 0.67),
        ("char_dup_ratio", dup <= 0.01),
    ]
    rules.append(("list_ratio", bool(words) and text.count("\n") / len(words) <= 0.3))
    return rules
