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
from collections.abc import Callable
from itertools import accumulate
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


def _top_ngram_chars(words: list[str], n: int) -> int | None:
    """Characters of the most frequent " "-joined n-gram times its count (datatrove's find_top_duplicate).

    Words never contain spaces, so " "-joined n-grams are equal exactly when the
    word tuples are; counting tuples avoids building the strings. Ties go to the
    first n-gram seen, as in `Counter.most_common`.
    """
    if len(words) < n:
        return None
    gram, count = Counter(zip(*(words[k:] for k in range(n)), strict=False)).most_common(1)[0]
    return (sum(len(w) for w in gram) + n - 1) * count


_MASK = (1 << 64) - 1
_BASE = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2**64
_BASE_INV = pow(_BASE, -1, 1 << 64)


def _substring_hasher(joined: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Position-independent polynomial hashes (mod 2**64) of joined[a:b], vectorized.

    Equal substrings always get equal hashes, so "all hashes distinct" proves
    "all substrings distinct"; a collision only sends us to the exact loop.
    """
    cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    m = len(cp)
    with np.errstate(over="ignore"):
        inv_pow = np.empty(m, dtype=np.uint64)
        pow_ = np.empty(m + 1, dtype=np.uint64)
        if m:
            inv_pow[0] = 1
            inv_pow[1:] = np.uint64(_BASE_INV)
            inv_pow = np.cumprod(inv_pow, dtype=np.uint64)
        pow_[0] = 1
        pow_[1:] = np.uint64(_BASE)
        pow_ = np.cumprod(pow_, dtype=np.uint64)
        prefix = np.zeros(m + 1, dtype=np.uint64)
        np.cumsum((cp + np.uint64(1)) * inv_pow, dtype=np.uint64, out=prefix[1:])

    def hashes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (prefix[b] - prefix[a]) * pow_[a] + (b - a).astype(np.uint64) * np.uint64(_BASE)

    return hashes


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


def _dup_ngram_chars_reference(joined: str, offsets: list[int], n: int) -> int:
    """datatrove's find_all_duplicate loop, verbatim on slices (kept to test the fast version)."""
    n_words = len(offsets) - 1
    seen: set[str] = set()
    chars = idx = 0
    while idx < n_words - n + 1:
        gram = joined[offsets[idx] : offsets[idx + n]]
        if gram in seen:
            chars += len(gram)
            idx += n
        else:
            seen.add(gram)
            idx += 1
    return chars


def dup_ngram_chars(words: list[str], ns: list[int]) -> dict[int, int]:
    """Characters in repeated ""-joined n-grams for each n (datatrove's find_all_duplicate)."""
    joined = "".join(words)
    offsets = list(accumulate(map(len, words), initial=0))
    off = np.asarray(offsets, dtype=np.int64)
    hasher = _substring_hasher(joined)
    out = {}
    for n in ns:
        if len(words) < n + 1:
            out[n] = 0
            continue
        h = hasher(off[:-n], off[n:])
        sorted_h = np.sort(h)
        if not (sorted_h[1:] == sorted_h[:-1]).any():
            out[n] = 0  # all n-grams distinct (equal strings hash equal): nothing repeats
            continue
        out[n] = _dup_ngram_chars_exact(joined, offsets, n, h)
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
    for n, frac in TOP_NGRAMS:
        top = _top_ngram_chars(words, n)
        rules.append((f"top_{n}_gram", top is None or top / size <= frac))
    dups = dup_ngram_chars(words, [n for n, _ in DUP_NGRAMS])
    for n, frac in DUP_NGRAMS:
        rules.append((f"duplicated_{n}_n_grams", dups[n] / size <= frac))
    return rules


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
        words = line.split()
        if any(len(w) > 1000 for w in words):
            continue
        line = CITATION_REGEX.sub("", line)
        if not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS):
            continue
        if len(words) < 3:
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
    num_sentences = sum(tokenizer.count_sentences_batch(sentence_lines))
    # The first whole-document failure in line order is datatrove's reason; then the other rule.
    rules: list[Rule] = doc_rules[:1]
    failed = {name for name, _ in doc_rules}
    rules += [
        (name, name not in failed)
        for name in ("lorem_ipsum", "curly_bracket")
        if rules[:1] != [(name, False)]
    ]
    rules.append(("too_few_sentences", num_sentences >= 5))
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
