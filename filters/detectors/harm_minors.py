"""Which windows of a text name a minor: with a sexual score they make the harm detector's
`sexual_with_minor` (the sexual_minors category reads it next to its own head and its curated terms).
"""

from __future__ import annotations

import bisect

import numpy as np

from filters.automaton import Automaton

__all__ = ["MINOR_PHRASES", "MINOR_WORDS", "SEXUAL_WITH_MINOR", "minor_windows"]

# Phrases that put a minor in a window: with a sexual score they make `sexual_with_minor` (the
# sexual_minors category reads it next to its own head and its curated terms). A phrase counts as a
# whole word: the characters around it are not word characters (alphanumeric or "_", as regex \b
# reads them); the end of a window counts as a non-word character, the text before it does not.
MINOR_WORDS = (
    "child", "children", "childs", "kid", "kids", "kiddie", "minor", "minors", "underage", "under age",
    "preteen", "pre teen", "tween", "tweens", "teen", "teens", "teenage", "teenager", "teenagers",
    "juvenile", "schoolgirl", "schoolgirls", "schoolboy", "schoolboys", "toddler", "toddlers", "infant",
    "infants", "little girl", "little girls", "little boy", "little boys", "young girl", "young girls",
    "young boy", "young boys", "elementary school", "middle school", "primary school", "kindergarten",
    "loli", "lolita", "jailbait",
)  # fmt: skip
_MINOR_AGES = (
    *(str(n) for n in range(1, 18)),
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
)  # fmt: skip
MINOR_PHRASES = MINOR_WORDS + tuple(  # "14 year old", "fifteen yrs old", "12yearold", ...
    f"{age}{gap}{unit}{plural}{gap_old}old"
    for age in _MINOR_AGES
    for gap in ("", " ")
    for unit in ("year", "yr")
    for plural in ("", "s")
    for gap_old in ("", " ")
)
_MINOR_AUTOMATON = Automaton(MINOR_PHRASES)
SEXUAL_WITH_MINOR = "sexual_with_minor"


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def minor_windows(text: str, bounds: list[tuple[int, int]]) -> np.ndarray:
    """Which windows [start, end) of `text` name a minor (child, 14-year-old, schoolgirl, ...): one
    pass of an Aho-Corasick automaton over the whole text, then each occurrence's word edges. The
    windows are sorted and disjoint, as `window_bounds` cuts them (an occurrence belongs to the last
    window that starts at or before it, and counts only if it ends inside that window)."""
    out = np.zeros(len(bounds), dtype=bool)
    starts = [s for s, _ in bounds]
    for _, a, b in _MINOR_AUTOMATON.find(text):
        if a > 0 and _is_word_char(text[a - 1]):
            continue
        w = bisect.bisect_right(starts, a) - 1
        if w < 0 or b > bounds[w][1] or (b < bounds[w][1] and _is_word_char(text[b])):
            continue
        out[w] = True
    return out
