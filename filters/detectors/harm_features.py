"""The fast harm tier's features: hashed word and character n-grams of a window of normalized text.

The spec is stored in the model manifest and checked at load (`FeatureSpec.from_json`): on the
normalized text, character n-grams (lengths `char_ngrams`, the window padded with one space on each
side) and word unigrams and bigrams (tokens = runs of alphanumeric characters, cut every 40), hashed
into `n_features` buckets with a fixed 64-bit mix (no Python `hash`, which is salted per process),
counted, and each family scaled to unit L2 norm. Request framing and function words
(`FRAMING_WORDS`: "how", "do", "i", "the", "give", ...) and third-person pronouns are masked first:
every labelled prompt set is harmful, so with them a head learns that asking is harm (and the sexism
source taught it that "she" is). The letter "l" is read as "i" in both families: when the
models were trained the normalizer read leet "1" as "i", so "ki11" had to meet "kill" (since the ninth slice it
reads "ki11" as "kill"; the fold stays because the models were trained with it).

Training (`scripts/train_harm.py`) and the detector (`filters.detectors.harm`) both featurize here, so
both compute the very same scores; `filters.detectors.harm_kernel` is the compiled scoring loop over
the same hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from filters.detectors.base import HarmModelError
from filters.detectors.harm_kernel import (
    BIGRAM_MUL,
    HASH_BASE,
    MUL1,
    MUL2,
    SALT_BIGRAM,
    SALT_CHAR_NGRAM,
    SALT_TOKEN_CHAR,
    SALT_UNIGRAM,
)

__all__ = [
    "FRAMING_HASHES",
    "FRAMING_WORDS",
    "MAX_TOKEN",
    "FeatureSpec",
    "featurize",
    "featurize_counted",
    "folded_codepoints",
    "linear_margins",
    "window_bounds",
    "word_chars",
]

MAX_TOKEN = 40
# Request framing and function words. Every labelled prompt set is harmful, so with these words as
# features a head learns "How do I ..." = harm; masking them leaves the content to decide. Third-person
# pronouns are masked for the same reason: the sexism source (EDOS) is all about women, so "she" and
# "her" became hate and violence evidence and children's stories fired both.
FRAMING_WORDS = (
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "how",
    "what",
    "where",
    "when",
    "why",
    "which",
    "who",
    "whom",
    "whose",
    "do",
    "does",
    "did",
    "done",
    "can",
    "could",
    "would",
    "should",
    "will",
    "shall",
    "may",
    "might",
    "must",
    "i",
    "me",
    "my",
    "mine",
    "myself",
    "we",
    "us",
    "our",
    "a",
    "an",
    "the",
    "to",
    "of",
    "in",
    "on",
    "for",
    "with",
    "at",
    "by",
    "from",
    "about",
    "into",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "am",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "there",
    "some",
    "any",
    "way",
    "ways",
    "best",
    "please",
    "give",
    "tell",
    "explain",
    "write",
    "help",
    "show",
    "list",
    "describe",
    "provide",
    "need",
    "want",
    "know",
)


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that decides a feature vector; stored in the manifest so training and use agree."""

    n_features: int = 1 << 18
    char_ngrams: tuple[int, ...] = (2, 3, 4, 5)
    word_ngrams: tuple[int, ...] = (1, 2)
    window_chars: int = 400

    def to_json(self) -> dict[str, Any]:
        return {
            "hash": "poly-fnv64-splitmix64/4",
            "n_features": self.n_features,
            "char_ngrams": list(self.char_ngrams),
            "word_ngrams": list(self.word_ngrams),
            "word_token": f"runs of alphanumeric or _ characters, cut every {MAX_TOKEN}",
            "scaling": "counts, L2 per family (chars, words)",
            "window_chars": self.window_chars,
            "text_view": "filters.normalize.normalize(raw).text",
            "framing_words": list(FRAMING_WORDS),
            "framing": "no char n-gram holds a framing-word character; framing words are not word tokens",
            "folded": "l read as i (the normalizer reads leet 1 as i, so 'ki11' and 'kill' meet)",
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        spec = cls(
            n_features=int(data["n_features"]),
            char_ngrams=tuple(int(n) for n in data["char_ngrams"]),
            word_ngrams=tuple(int(n) for n in data["word_ngrams"]),
            window_chars=int(data["window_chars"]),
        )
        if spec.to_json() != data:
            raise HarmModelError("harm model: feature spec differs from what this code computes")
        if (
            spec.n_features & (spec.n_features - 1)
            or not 1 <= min(spec.word_ngrams) <= max(spec.word_ngrams) <= 2
            or not spec.char_ngrams
            or min(spec.char_ngrams) < 2
        ):
            raise HarmModelError(
                "harm model: n_features must be a power of two, word n-grams 1 or 2, char n-grams 2 or longer"
            )
        return spec


def _mix(h: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 finalizer of h ^ salt: spreads a polynomial hash over all 64 bits."""
    h = h ^ np.uint64(salt)
    h = (h ^ (h >> np.uint64(30))) * MUL1
    h = (h ^ (h >> np.uint64(27))) * MUL2
    return h ^ (h >> np.uint64(31))


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)


def folded_codepoints(text: str) -> np.ndarray:
    """Code points with "l" read as "i", as when the models were trained (the normalizer then read leet
    "1" as "i"; the feature spec's "folded" entry records it)."""
    cp = _codepoints(text)
    cp[cp == ord("l")] = ord("i")
    return cp


def window_bounds(text: str, window_chars: int) -> list[tuple[int, int]]:
    """Cut `text` into consecutive windows of at most `window_chars` characters, each cut at the last
    space in its second half when there is one; covers the whole text (one window when it is short)."""
    n = len(text)
    if n <= window_chars:
        return [(0, n)]
    out = []
    start = 0
    while start < n:
        end = min(start + window_chars, n)
        if end < n:
            cut = text.rfind(" ", start + window_chars // 2, end)
            end = cut if cut > start else end
        out.append((start, end))
        start = end + 1 if end < n and text[end] == " " else end  # the cut space belongs to no window
    return out


def _char_hashes(
    cp: np.ndarray, masked: np.ndarray, spec: FeatureSpec, bounds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(window id, bucket) of every character n-gram that lies inside one window and holds no
    masked (framing-word) character.

    `cp` is the text with a space inserted before and after every window (see `featurize`), so
    n-grams see word edges at window ends too; `bounds` are the windows' [start, end) in `cp`."""
    pos_win = np.searchsorted(bounds[:, 0], np.arange(len(cp)), side="right") - 1
    ends = bounds[pos_win, 1]
    n_masked = np.r_[0, np.cumsum(masked)]
    rows, cols = [], []
    h = np.zeros(len(cp), dtype=np.uint64)
    for n in range(1, max(spec.char_ngrams) + 1):
        m = len(cp) - n + 1
        if m <= 0:
            break
        h = h[:m] + cp[n - 1 :] * np.uint64(pow(int(HASH_BASE), n - 1, 1 << 64))
        if n not in spec.char_ngrams:
            continue
        inside = (np.arange(n, m + n) <= ends[:m]) & (n_masked[n : m + n] == n_masked[:m])
        rows.append(pos_win[:m][inside])
        cols.append(_mix(h[inside], SALT_CHAR_NGRAM + n) & np.uint64(spec.n_features - 1))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)


_ASCII_WORD = np.array([chr(c).isalnum() or c == ord("_") for c in range(128)])


def word_chars(cp: np.ndarray) -> np.ndarray:
    """Which code points are word characters (alphanumeric or "_"); non-ASCII looked up once each."""
    mask = np.zeros(len(cp), dtype=bool)
    ascii_ = cp < 128
    mask[ascii_] = _ASCII_WORD[cp[ascii_]]
    if not ascii_.all():
        other = cp[~ascii_]
        distinct = np.unique(other)
        is_word = np.array([chr(int(c)).isalnum() for c in distinct], dtype=bool)
        mask[~ascii_] = is_word[np.searchsorted(distinct, other)]
    return mask


def _token_hashes(cp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, hash) of every token: a run of word characters, cut into pieces of at most
    `MAX_TOKEN` characters; a token's hash sums a mix of (code point, position in the token)."""
    word = word_chars(cp)
    idx = np.flatnonzero(word)
    if not len(idx):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint64)
    run_start = np.r_[True, idx[1:] != idx[:-1] + 1]
    first_of_run = idx[run_start][np.cumsum(run_start) - 1]
    pos_in_run = idx - first_of_run
    token_first = pos_in_run % MAX_TOKEN == 0
    per_char = _mix(cp[idx] * HASH_BASE + (pos_in_run % MAX_TOKEN).astype(np.uint64), SALT_TOKEN_CHAR)
    starts = np.flatnonzero(token_first)
    lengths = np.diff(np.r_[starts, len(idx)])
    return idx[starts], idx[starts] + lengths, np.add.reduceat(per_char, starts)


def _framing_hashes() -> np.ndarray:
    return np.unique(_token_hashes(folded_codepoints(" ".join(FRAMING_WORDS)))[2])


def _framing_mask(n: int, starts: np.ndarray, ends: np.ndarray, framing: np.ndarray) -> np.ndarray:
    """Which of the n characters belong to a framing token."""
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, starts[framing], 1)
    np.add.at(delta, ends[framing], -1)
    return np.cumsum(delta[:-1]) > 0


def _word_hashes(
    pos: np.ndarray, h: np.ndarray, spec: FeatureSpec, starts: np.ndarray
) -> tuple[np.ndarray, ...]:
    """(window id, bucket) of every word unigram / bigram; a bigram belongs to its first word's window
    and is dropped when its second word lies in the next window."""
    if not len(h):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    win = np.searchsorted(starts, pos, side="right") - 1
    rows, cols = [], []
    mask = np.uint64(spec.n_features - 1)
    if 1 in spec.word_ngrams:
        rows.append(win)
        cols.append(_mix(h, SALT_UNIGRAM) & mask)
    if 2 in spec.word_ngrams and len(h) > 1:
        same = win[:-1] == win[1:]
        rows.append(win[:-1][same])
        cols.append(_mix(h[:-1][same] * BIGRAM_MUL + h[1:][same], SALT_BIGRAM) & mask)
    return np.concatenate(rows), np.concatenate(cols).astype(np.int64)


def _scaled(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_features: int) -> tuple[np.ndarray, ...]:
    """Counts per (row, bucket) scaled to unit L2 norm per row: sorted (rows, cols, values).
    `n_features` is a power of two (checked at load), so shifts and masks split the keys."""
    shift = n_features.bit_length() - 1
    keys, counts = np.unique((rows << shift) | cols, return_counts=True)
    r = keys >> shift
    vals = counts.astype(np.float32)
    norms = np.sqrt(np.bincount(r, weights=vals * vals, minlength=n_rows)).astype(np.float32)
    return r, keys & (n_features - 1), vals / np.maximum(norms[r], 1e-12)


FRAMING_HASHES = _framing_hashes()


def _is_framing(h: np.ndarray) -> np.ndarray:
    """Which token hashes are framing words (a sorted lookup: np.isin costs twice as much here)."""
    at = np.minimum(np.searchsorted(FRAMING_HASHES, h), len(FRAMING_HASHES) - 1)
    return FRAMING_HASHES[at] == h


def featurize(text: str, bounds: list[tuple[int, int]], spec: FeatureSpec) -> tuple[np.ndarray, ...]:
    """Sparse features of each window [start, end) of the normalized `text`, as (rows, cols, values)
    with rows = window index; char and word families are each unit-normalized, then summed."""
    return featurize_counted(text, bounds, spec)[0]


def featurize_counted(
    text: str, bounds: list[tuple[int, int]], spec: FeatureSpec
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """`featurize`'s features, and per window its content words: word tokens that are not framing
    words (what the word features see), counted by where each token starts."""
    n_rows = len(bounds)
    if not text:
        empty = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        return empty, np.zeros(n_rows, np.int64)
    cp = folded_codepoints(text)
    pos, ends, h = _token_hashes(cp)
    framing = _is_framing(h)
    masked = _framing_mask(len(cp), pos, ends, framing)
    space, unmasked = np.array([ord(" ")], dtype=np.uint64), np.zeros(1, dtype=bool)
    padded = np.concatenate([piece for s, e in bounds for piece in (space, cp[s:e])] + [space])
    padded_mask = np.concatenate([piece for s, e in bounds for piece in (unmasked, masked[s:e])] + [unmasked])
    lens = np.array([e - s for s, e in bounds], dtype=np.int64)
    p_starts = np.concatenate([[0], np.cumsum(lens + 1)[:-1]])  # each window starts at its leading space
    p_bounds = np.stack([p_starts, p_starts + lens + 2], axis=1)
    text_starts = np.array([s for s, _ in bounds], dtype=np.int64)
    content = np.searchsorted(text_starts, pos[~framing], side="right") - 1
    parts = [
        _scaled(*_char_hashes(padded, padded_mask, spec, p_bounds), n_rows, spec.n_features),
        _scaled(*_word_hashes(pos[~framing], h[~framing], spec, text_starts), n_rows, spec.n_features),
    ]
    features = tuple(np.concatenate([p[i] for p in parts]) for i in range(3))
    return features, np.bincount(content, minlength=n_rows)


def linear_margins(
    features: tuple[np.ndarray, ...], n_rows: int, weights: np.ndarray, bias: np.ndarray
) -> np.ndarray:
    """x @ weights + bias for the sparse (rows, cols, values) of `featurize`, one row per window.
    Shared by training and the detector so both compute the very same document scores."""
    rows, cols, vals = features
    out = np.zeros((n_rows, weights.shape[1]), dtype=np.float64)
    if len(rows):  # rows come in a few sorted runs (one per feature family): sum run by run
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        rows_of_weights = np.take(weights, cols, axis=0)  # same values as weights[cols], ~5x faster
        np.add.at(out, rows[starts], np.add.reduceat(rows_of_weights * vals[:, None], starts, axis=0))
    return out + bias
