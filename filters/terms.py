"""Blocklist term matching: one Aho-Corasick automaton over every term list.

All term lists (LDNOOBW in 28 languages plus the curated per-category lists in
``filters/data/terms``) are folded with ``normalize_term`` and compiled into a
single Aho-Corasick automaton (``filters.automaton``). A text is normalized once (see
``filters.normalize``) and scanned once; each hit is kept only if it sits on
word boundaries of the normalized text ("ass" does not match in "class"),
except for terms in scripts written without spaces (CJK, Thai, ...). Hits are
mapped back to raw offsets through the normalization's offset map.

Score of a category: ``1 - exp(-sum of the weights of its hits)`` -- it grows
with the number and strength of hits and saturates at 1; a single weight-1.0
hit gives 0.63, a single weight-0.35 (LDNOOBW) hit 0.30.
"""

from __future__ import annotations

import math
import re
import sys
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from filters.automaton import Automaton
from filters.detectors.base import DetectorResult, Span
from filters.normalize import NormalizedText, has_elongation, normalize, normalize_term, squeeze
from filters.policy import TERM_KEYS

__all__ = [
    "TERM_CATEGORIES",
    "TermEntry",
    "TermMatcher",
    "TermsDetector",
    "default_matcher",
    "language_scoped",
    "load_default_entries",
    "load_innocent_phrases",
    "load_senses",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
TERM_CATEGORIES = TERM_KEYS  # the categories the policy lets `terms:<category>` name
LDNOOBW_WEIGHT = 0.35
# A sense word in senses.tsv: the term is also a name ("Dick"), see `used_as_name`.
NAME_SENSE = "<name>"
NAME_CONTEXT = 64
_OPENERS = " \t\r\n\"'“‘(["
_SENTENCE_ENDS = ".!?:;"  # a line break before the word is stripped with the openers: mid-sentence
_NEXT_TITLE_WORD = re.compile(r"[ \t]{1,3}[A-Z][a-z]")
SENSE_WINDOW = 500  # characters on each side of a hit searched for its innocent-sense words
# LDNOOBW list names that are not lid.176 labels (Klingon and Kabyle have no lid.176 label: their
# lists count only when a document's language is unknown).
LDNOOBW_LANGS = {"fil": "tl", "fr-CA-u-sd-caqc": "fr"}

# Scripts written without spaces between words: their terms match anywhere.
_NO_BOUNDARY_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK ext A
    (0x4E00, 0x9FFF),  # CJK
    (0xAC00, 0xD7AF),  # Hangul syllables (particles attach to words)
    (0xF900, 0xFAFF),
    (0x20000, 0x2FFFF),
)


def used_as_name(raw: str, start: int, end: int) -> bool:
    """Whether the hit raw[start:end] reads as a name: a Title-case word ("Dick") that does not open a
    sentence, or that another Title-case word follows ("Dick Cheney"). Looks at most NAME_CONTEXT
    characters on either side (a stream guard scans such hits with that much context)."""
    word = raw[start:end]
    if not (word[:1].isupper() and word[1:].islower()):
        return False
    before = raw[max(0, start - NAME_CONTEXT) : start].rstrip(_OPENERS)
    if before and before[-1] not in _SENTENCE_ENDS:
        return True
    return _NEXT_TITLE_WORD.match(raw, end, min(len(raw), end + NAME_CONTEXT)) is not None


def language_scoped(label: str) -> bool:
    """Whether a span's list (its label) may count only in its own language: another language's
    LDNOOBW list. Such a span can disappear once the document's language is known."""
    return label.startswith("ldnoobw:") and label != "ldnoobw:en"


def _no_boundary_script(term: str) -> bool:
    return any(lo <= ord(c) <= hi for c in term for lo, hi in _NO_BOUNDARY_RANGES)


@dataclass(frozen=True)
class TermEntry:
    """One blocklist term: the raw term, its category, weight and source list."""

    term: str
    category: str
    weight: float
    source: str
    lang: str | None = None  # the document language it applies to (lid.176 code); None: every language


def _read_lines(path: Path) -> list[str]:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line.rstrip("\n"))
    return lines


def _default_weight(path: Path, fallback: float) -> float:
    for line in path.read_text(encoding="utf-8").splitlines()[:5]:
        if "default_weight:" in line:
            return float(line.split("default_weight:")[1].split()[0])
    return fallback


def read_tsv_terms(path: Path, category: str) -> list[TermEntry]:
    """A curated list: ``term<TAB>weight`` lines (weight optional, see the header's default_weight)."""
    default = _default_weight(path, 1.0)
    out = []
    for line in _read_lines(path):
        term, _, weight = line.partition("\t")
        out.append(TermEntry(term.strip(), category, float(weight) if weight.strip() else default, path.name))
    return out


def load_default_entries(data_dir: Path = DATA_DIR) -> list[TermEntry]:
    """LDNOOBW (all languages, minus the allowlist) plus the curated per-category lists."""
    terms_dir = data_dir / "terms"
    allow = {normalize_term(t) for t in _read_lines(terms_dir / "allowlist.txt")}
    en_cat: dict[str, str] = {}
    for line in _read_lines(terms_dir / "ldnoobw_en_categories.tsv"):
        term, _, cat = line.partition("\t")
        en_cat[normalize_term(term)] = cat.strip()
    entries: list[TermEntry] = []
    for path in sorted((data_dir / "ldnoobw").glob("*.txt")):
        lang = path.stem
        for term in _read_lines(path):
            norm = normalize_term(term)
            if not norm or norm in allow:
                continue
            cat = en_cat.get(norm, "sexual") if lang == "en" else "profanity"
            # English swearing turns up in every language's web text; the other lists hold many
            # ordinary English words ("cu", "pute", "figa"), so they count only in their language.
            scope = None if lang == "en" else LDNOOBW_LANGS.get(lang, lang)
            entries.append(TermEntry(term.strip(), cat, LDNOOBW_WEIGHT, f"ldnoobw:{lang}", scope))
    for cat in TERM_CATEGORIES:
        path = terms_dir / f"{cat}.tsv"
        if path.exists():
            entries.extend(read_tsv_terms(path, cat))
    return entries


def load_innocent_phrases(data_dir: Path = DATA_DIR) -> list[str]:
    """Phrases in which a listed term has its innocent sense (``terms/innocent.txt``)."""
    return _read_lines(data_dir / "terms" / "innocent.txt")


def load_senses(data_dir: Path = DATA_DIR) -> dict[str, list[str]]:
    """Terms with a common innocent sense and the words that signal it (``terms/senses.tsv``; a line may
    name several terms, comma separated, that share their sense words)."""
    out = {}
    for line in _read_lines(data_dir / "terms" / "senses.tsv"):
        terms, _, words = line.partition("\t")
        sense_words = [w.strip() for w in words.split(",") if w.strip()]
        for term in terms.split(","):
            out[term.strip()] = sense_words
    return out


def _ends_spaced_run(runs: tuple[tuple[int, int], ...], start: int, end: int) -> bool:
    """A hit that ends a collapsed spaced-letter run one letter after its start: the letter is a
    one-letter word spaced like the rest ("u f a g g o t" -> "ufaggot", "a n i g g e r")."""
    k = bisect_right(runs, (start, sys.maxsize)) - 1
    return k >= 0 and runs[k][0] == start - 1 and runs[k][1] == end


def _inside(spans: tuple[tuple[int, int], ...], start: int, end: int) -> bool:
    """Whether [start, end) lies within one of the sorted, disjoint spans."""
    k = bisect_right(spans, (start, sys.maxsize)) - 1
    return k >= 0 and spans[k][0] <= start and end <= spans[k][1]


def _has_sense_word(pattern: re.Pattern[str], text: str, start: int, end: int) -> bool:
    """A sense word wholly within SENSE_WINDOW characters of the hit ``text[start:end]``.

    ``re`` takes ``endpos`` for the end of the string, so a word cut there would pass the pattern's
    closing ``\\b`` ("court" of "courtship"): the search reads one character more and drops a match
    that ends past the window."""
    hi = end + SENSE_WINDOW
    return any(m.end() <= hi for m in pattern.finditer(text, max(0, start - SENSE_WINDOW), hi + 1))


class TermMatcher:
    """One automaton over all terms; ``match`` returns per-category scores and raw spans."""

    def __init__(
        self,
        entries: Iterable[TermEntry],
        innocent: Iterable[str] = (),
        senses: dict[str, list[str]] | None = None,
    ):
        """`innocent`: phrases in which a term has its innocent sense ("cock crow"): hits inside
        them are ignored. `senses`: term -> words that signal its innocent sense ("pussy": "cat");
        a hit with one of them within SENSE_WINDOW characters is ignored."""
        # normalized term -> {category: (weight, source, languages or None for all)}; the highest
        # weight wins per category
        table: dict[str, dict[str, tuple[float, str, frozenset[str] | None]]] = {}
        for e in entries:
            norm = normalize_term(e.term)
            if not norm:
                continue
            per_cat = table.setdefault(norm, {})
            langs = None if e.lang is None else frozenset([e.lang])
            if e.category in per_cat:
                w, src, old_langs = per_cat[e.category]
                langs = None if old_langs is None or langs is None else old_langs | langs
                if w >= e.weight:
                    per_cat[e.category] = (w, src, langs)
                    continue
            per_cat[e.category] = (e.weight, e.source, langs)
        self.categories = tuple(sorted({c for v in table.values() for c in v}))
        # Elongated words are squeezed in the text ("fuuuck" -> "fuck", "boooobs" -> "bobs"), so a term
        # with double letters also gets its squeezed form, valid only inside a squeezed word; a term
        # with a tripled letter ("xxx") exists only in that form.
        patterns: dict[str, dict[str, tuple[float, str, frozenset[str] | None]]] = {}
        elongated_only: dict[str, dict[str, tuple[float, str, frozenset[str] | None]]] = {}
        for norm, per_cat in table.items():
            squeezed = squeeze(norm)
            if not has_elongation(norm):
                patterns[norm] = per_cat
            if squeezed != norm and (len(squeezed) >= 3 or has_elongation(norm)):
                merged = elongated_only.setdefault(squeezed, {})
                for cat, value in per_cat.items():
                    if cat not in merged or merged[cat][0] < value[0]:
                        merged[cat] = value
        for squeezed in list(elongated_only):
            if squeezed in patterns:  # already matches everywhere
                del elongated_only[squeezed]
        terms = sorted(patterns) + sorted(elongated_only)
        # per pattern index: (needs word boundaries, only inside a squeezed word, hits); () hits for
        # an innocent phrase
        self._values = [
            (
                not _no_boundary_script(norm),
                norm in elongated_only,
                tuple(
                    (cat, w, src, langs)
                    for cat, (w, src, langs) in sorted((patterns.get(norm) or elongated_only[norm]).items())
                ),
            )
            for norm in terms
        ]
        phrases = sorted({p for p in map(normalize_term, innocent) if p} - set(terms))
        terms += phrases
        self._values += [(not _no_boundary_script(p), False, ()) for p in phrases]
        self._senses: dict[int, re.Pattern[str]] = {}
        self._names: set[int] = set()  # terms that are also names: a Title-case use is the name
        index = {t: i for i, t in enumerate(terms)}
        for term, words in (senses or {}).items():
            norm = normalize_term(term)
            if norm in index and NAME_SENSE in words:
                self._names.add(index[norm])
            folded = sorted(
                {w for w in map(normalize_term, words) if w and w != NAME_SENSE.strip("<>")},
                key=lambda w: (-len(w), w),
            )
            if norm in index and folded:
                self._senses[index[norm]] = re.compile(r"\b(?:" + "|".join(map(re.escape, folded)) + r")\b")
        self._automaton = Automaton(terms)
        self.size = len(table)

    def match_normalized(
        self, norm: NormalizedText, lang: str | None = None, window: tuple[int, int] | None = None
    ) -> tuple[dict[str, float], list[Span]]:
        """Scores per category (every category present, 0.0 when no hit) and raw-offset spans.

        `window`: only hits starting in this raw range count; the text around it is context (its
        innocent-sense words and phrases count): a stream guard scanning part of a longer text.

        `lang`: the document's language; terms of a language-specific list count only in their
        language. None (unknown, e.g. a stream's open text) lets every list count."""
        text = norm.text
        n = len(text)
        weights: dict[str, float] = {}
        spans: list[Span] = []
        # Every occurrence (overlapping), by end then longest first: a fixed order for the sums.
        matches = sorted(self._automaton.find(text), key=lambda m: (m[2], m[1]))
        found = []
        innocent: list[tuple[int, int]] = []
        for index, start, end in matches:
            bounded, elongated_only, hits = self._values[index]
            if elongated_only and not _inside(norm.squeezed, start, end):
                continue
            if (
                bounded
                and ((start > 0 and text[start - 1].isalnum()) or (end < n and text[end].isalnum()))
                and not _ends_spaced_run(norm.spaced, start, end)
            ):
                continue
            if not hits:
                innocent.append((start, end))
            elif index in self._senses and _has_sense_word(self._senses[index], text, start, end):
                continue  # the innocent sense is nearby ("Pussy" among cats and kittens)
            elif index in self._names and used_as_name(norm.raw, *norm.raw_span(start, end)):
                continue  # "Dick" in the middle of a sentence, "Dick Cheney"
            else:
                found.append((start, end, hits))
        for start, end, hits in found:
            if innocent and any(s <= start and end <= e for s, e in innocent):
                continue  # the innocent sense ("cock crow", "pussy willow")
            rs, re_ = norm.raw_span(start, end)
            if window is not None and not window[0] <= rs < window[1]:
                continue
            for cat, w, src, langs in hits:
                if langs is not None and lang is not None and lang not in langs:
                    continue
                weights[cat] = weights.get(cat, 0.0) + w
                spans.append(Span(cat, rs, re_, src))
        scores = {c: 0.0 for c in self.categories}
        for cat, total in weights.items():
            scores[cat] = 1.0 - math.exp(-total)
        spans.sort(key=lambda s: (s.start, s.end, s.category))
        return scores, spans

    def match(
        self, raw: str, lang: str | None = None, window: tuple[int, int] | None = None
    ) -> tuple[dict[str, float], list[Span]]:
        return self.match_normalized(normalize(raw), lang, window)


@lru_cache(maxsize=1)
def default_matcher() -> TermMatcher:
    """The bundled lists, compiled once per process (~0.1 s)."""
    return TermMatcher(load_default_entries(), load_innocent_phrases(), load_senses())


class TermsDetector:
    """Detector adaptor: scores keyed by category (``terms:<category>`` in a policy)."""

    name = "terms"
    uses_language = True  # the engine passes each document's language (see `detect_batch`)

    def __init__(self, extra_terms: dict[str, list[str]] | None = None, extra_weight: float = 1.0):
        if extra_terms:
            entries = load_default_entries()
            for cat, terms in extra_terms.items():
                entries.extend(TermEntry(t, cat, extra_weight, "policy") for t in terms)
            self.matcher = TermMatcher(entries, load_innocent_phrases(), load_senses())
        else:
            self.matcher = default_matcher()

    def detect_batch(
        self,
        texts: list[str],
        langs: list[str | None] | None = None,
        windows: list[tuple[int, int] | None] | None = None,
    ) -> list[DetectorResult]:
        """`langs`: each text's language (lid.176 code), None where unknown (every list counts).
        `windows`: per text, the raw range where hits count (None: everywhere), see `match_normalized`."""
        out = []
        windows = windows or [None] * len(texts)
        for text, lang, window in zip(texts, langs or [None] * len(texts), windows, strict=True):
            scores, spans = self.matcher.match(text, lang, window)
            out.append(DetectorResult(scores=scores, spans=spans))
        return out
