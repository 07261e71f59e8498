"""Fast-tier harm classifier: hashed word and character n-grams, one linear head per category.

Why this shape: the term lists are precise but blind to paraphrase, and the older toxicity model
reads raw text, so homoglyphs or leetspeak walk past it. This model reads exactly the view the term
rules read (`filters.normalize.normalize`, imported, never copied), so an obfuscated text and its
plain form get the same features.

Features (the spec is stored in the model manifest and checked at load): on the normalized text,
character n-grams (lengths `char_ngrams`, the window padded with one space on each side) and word
unigrams and bigrams (tokens = runs of alphanumeric characters, cut every 40), hashed into `n_features` buckets
with a fixed 64-bit mix (no Python `hash`, which is salted per process), counted, and each family
scaled to unit L2 norm. Request framing and function words (`FRAMING_WORDS`: "how", "do", "i", "the",
"give", ...) and third-person pronouns are masked first: every labelled prompt set is harmful, so with
them a head learns that asking is harm (and the sexism source taught it that "she" is). The letter "l"
is read as "i" in both families: the normalizer reads leet "1" as "i", so "ki11" has to meet "kill".
A head is `sigmoid(a * (x @ w + b) + c)`: logistic weights, then Platt scaling fitted on the dev split.
Nothing here uses pickle: the weights are a `.npz` read with `allow_pickle=False` whose sha256 the
manifest pins, and the calibration JSON is pinned the same way; a mismatch raises `HarmModelError`
(fail closed).

Long texts are scored in windows of about `window_chars` normalized characters cut at spaces; a
category's document score is the maximum over windows and the best window is reported as a raw
span, so a harmful paragraph inside a long clean page is found and located.
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from filters.automaton import Automaton
from filters.detectors import harm_kernel
from filters.detectors.base import DetectorResult, HarmModelError, Span, read_verified
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
from filters.normalize import NormalizedText, normalize
from filters.policy import HARM_CATEGORIES

__all__ = [
    "CATEGORIES",
    "DEFAULT_MANIFEST",
    "MINOR_PHRASES",
    "FeatureSpec",
    "HarmDetector",
    "HarmModel",
    "HarmModelError",
    "HarmScore",
    "featurize",
    "linear_margins",
    "minor_windows",
    "window_bounds",
]

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MANIFEST = MODELS_DIR / "harm_fast.json"
ENCODER_MANIFEST = MODELS_DIR / "harm_encoder.json"
CATEGORIES = HARM_CATEGORIES
FORMAT = "winnow-harm-fast/1"
MAX_TEXT_CHARS = 2_000_000  # a longer text is scored on its first 2 M characters (bounded cost)

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


def _folded_codepoints(text: str) -> np.ndarray:
    """Code points with "l" read as "i": the normalizer turns leet "1" into "i", so "ki11" must meet "kill"."""
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


def _word_chars(cp: np.ndarray) -> np.ndarray:
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
    word = _word_chars(cp)
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
    return np.unique(_token_hashes(_folded_codepoints(" ".join(FRAMING_WORDS)))[2])


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


_FRAMING_HASHES = _framing_hashes()


def _is_framing(h: np.ndarray) -> np.ndarray:
    """Which token hashes are framing words (a sorted lookup: np.isin costs twice as much here)."""
    at = np.minimum(np.searchsorted(_FRAMING_HASHES, h), len(_FRAMING_HASHES) - 1)
    return _FRAMING_HASHES[at] == h


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
    cp = _folded_codepoints(text)
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


@dataclass(frozen=True)
class HarmScore:
    """One text's calibrated score per category and the raw span [start, end) of its best window."""

    scores: dict[str, float]
    spans: dict[str, tuple[int, int]]


_SCRATCH = threading.local()  # per thread: {n_features: zeroed bucket table} for `window_margins`


class HarmModel:
    """The loaded fast tier: verified weights, feature spec, Platt parameters and thresholds."""

    def __init__(self, manifest_path: str | Path = DEFAULT_MANIFEST):
        path = Path(manifest_path)
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise HarmModelError(f"harm model: cannot read manifest {path}: {e}") from e
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise HarmModelError(f"harm model: {path} is not a {FORMAT} manifest")
        try:
            self.spec = FeatureSpec.from_json(manifest["features"])
            self.categories = tuple(manifest["categories"])
            weights_file = path.parent / manifest["weights"]["file"]
            calib_file = path.parent / manifest["calibration"]["file"]
            weights_sha, calib_sha = manifest["weights"]["sha256"], manifest["calibration"]["sha256"]
        except (KeyError, TypeError, ValueError) as e:
            raise HarmModelError(f"harm model: manifest {path} lacks a field: {e}") from e
        self._load_weights(read_verified(weights_file, weights_sha, "weights"))
        self._load_calibration(read_verified(calib_file, calib_sha, "calibration"))
        self._char_ngrams = np.array(self.spec.char_ngrams, dtype=np.int64)
        self._word_ngrams = np.array([n in self.spec.word_ngrams for n in (1, 2)], dtype=np.bool_)
        self.window_margins("warm up", [(0, 7)])  # compile (or load the compiled loop) now, not in a request

    def _load_weights(self, data: bytes) -> None:
        import io

        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            weights, bias = npz["weights"], npz["bias"]
        n_cat = len(self.categories)
        if weights.shape != (self.spec.n_features, n_cat) or bias.shape != (n_cat,):
            raise HarmModelError(f"harm model: weights shape {weights.shape} does not fit the manifest")
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)

    def _load_calibration(self, data: bytes) -> None:
        cal = json.loads(data)
        try:
            platt = cal["platt"]
            self.platt_a = np.array([platt[c]["a"] for c in self.categories], dtype=np.float64)
            self.platt_b = np.array([platt[c]["b"] for c in self.categories], dtype=np.float64)
            self.thresholds = {c: float(cal["thresholds"][f"harm:{c}"]) for c in self.categories}
        except (KeyError, TypeError) as e:
            raise HarmModelError(f"harm model: calibration lacks {e}") from e

    def margins(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int) -> np.ndarray:
        """Uncalibrated linear scores x @ w + b of `featurize`'s sparse rows (training's path)."""
        return linear_margins((rows, cols, vals), n_rows, self.weights, self.bias)

    def window_margins(self, text: str, bounds: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """(x @ w + b per window, content words per window) of the normalized `text`: the compiled
        scoring loop (`harm_kernel`), equal to `margins(*featurize_counted(...))` up to float32
        rounding in the latter (|difference| < 1e-5; tests/test_harm_kernel.py)."""
        if not text:
            return np.tile(self.bias.astype(np.float64), (len(bounds), 1)), np.zeros(len(bounds), np.int64)
        cp = _folded_codepoints(text)
        starts = np.array([s for s, _ in bounds], dtype=np.int64)
        ends = np.array([e for _, e in bounds], dtype=np.int64)
        if (
            not len(bounds)
            or starts[0] != 0
            or (ends < starts).any()
            or (starts[1:] < ends[:-1]).any()
            or ends[-1] > len(text)
        ):
            raise ValueError("harm: windows must be sorted, disjoint, start at 0 and lie within the text")
        tables = getattr(_SCRATCH, "tables", None)
        if tables is None:
            tables = _SCRATCH.tables = {}
        scratch = tables.get(self.spec.n_features)
        if scratch is None:  # one zeroed bucket table per thread and size; the kernel hands it back zeroed
            scratch = tables[self.spec.n_features] = np.zeros(self.spec.n_features, dtype=np.int64)
        return harm_kernel.window_margins(
            cp, _word_chars(cp), starts, ends, _FRAMING_HASHES, self.weights, self.bias,
            self._char_ngrams, self._word_ngrams, MAX_TOKEN, scratch,
        )  # fmt: skip

    def calibrate(self, margins: np.ndarray) -> np.ndarray:
        """Platt-scaled probabilities (dev-fitted a, b per category)."""
        return 1.0 / (1.0 + np.exp(-(margins * self.platt_a + self.platt_b)))

    def score_view(self, view: NormalizedText) -> HarmScore:
        """Scores of a normalized text: max over windows, best window mapped back to raw offsets."""
        text = view.text[:MAX_TEXT_CHARS]
        bounds = window_bounds(text, self.spec.window_chars)
        probs = self.calibrate(self.window_margins(text, bounds)[0])
        best = probs.argmax(axis=0)
        scores = {c: float(probs[best[i], i]) for i, c in enumerate(self.categories)}
        spans = {c: view.raw_span(*bounds[best[i]]) for i, c in enumerate(self.categories)}
        return HarmScore(scores=scores, spans=spans)

    def score(self, raw: str) -> HarmScore:
        """Scores of a raw text (normalized here exactly as the term rules normalize it)."""
        return self.score_view(normalize(raw if isinstance(raw, str) else ""))


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


class WindowScores(NamedTuple):
    """One text's windows (normalized offsets), their scores per category, and which name a minor."""

    bounds: list[tuple[int, int]]
    probs: np.ndarray
    names_minor: np.ndarray


SCOPES = ("off", "confirm", "band", "all")
_warned_fast_only = False
log = logging.getLogger(__name__)


def _say_fast_only_once(why: str) -> None:
    """The policy falls back to the fast tier: said once per process, with how to get the encoder."""
    global _warned_fast_only
    if not _warned_fast_only:
        _warned_fast_only = True
        log.warning("harm classifier: fast tier only (%s)", why)


class HarmDetector:
    """Policy detector `harm`: scores `harm:<category>` and `harm:sexual_with_minor`, with a span
    (the best window) for each category whose score reaches its shipped threshold.

    Two tiers: every window is scored by the fast tier; with the encoder installed (`encoder`:
    "auto" uses it when present and says once when not; "required" refuses to build without it;
    "off" never loads it), some windows are judged by the stronger tier
    (`filters/detectors/harm_tiers.py`) on the same score scale. Which ones depends on the mode the
    policy is applied in (`pretrain_scope`, `runtime_scope`): "band" = windows the fast tier is unsure
    about (some category at or above its band edge), "confirm" = windows the fast tier would fire on
    (the encoder can only clear them or keep them: cheap, cuts false positives), "all", or "off".
    A window with fewer than `min_content_words` non-framing word tokens scores 0 (the classifier
    abstains: on one or two words a bag of n-grams fires on "ok" and "thank you"; the curated terms
    still judge such texts). The encoder reads a window with spaced-apart words joined back
    (`harm_tiers.encoder_input`); a window whose readable share is still below
    `encoder_min_readable`, or whose raw text is written in leet (`harm_tiers.leet_share`), keeps
    its fast score: the encoder cannot read split words or digits inside words, and the fast tier's
    n-grams can.
    Loads and verifies every file at construction so a bad one stops the policy from being built;
    picklable for Ray actors (reloads on unpickle)."""

    name = "harm"
    takes_mode = True  # the registry passes the policy's mode (pretrain_scope / runtime_scope)

    def __init__(
        self,
        manifest_path: str | None = None,
        encoder: str = "auto",
        pretrain_scope: str = "confirm",
        runtime_scope: str = "confirm",
        mode: str = "runtime",
        min_content_words: int = 3,
        encoder_min_readable: float = 0.7,
        encoder_precision: str = "fp32",
    ):
        if encoder not in ("auto", "off", "required") or mode not in ("pretrain", "runtime"):
            raise ValueError(f"harm: bad encoder={encoder!r} or mode={mode!r}")
        if not {pretrain_scope, runtime_scope} <= set(SCOPES):
            raise ValueError(f"harm: scopes must be one of {SCOPES}")
        self.manifest_path = str(manifest_path or DEFAULT_MANIFEST)
        self.encoder_mode, self.mode = encoder, mode
        self.scopes = {"pretrain": pretrain_scope, "runtime": runtime_scope}
        self.scope = self.scopes[mode]
        self.min_content_words = min_content_words
        if not 0.0 <= encoder_min_readable <= 1.0:
            raise ValueError(f"harm: encoder_min_readable must be in [0, 1], got {encoder_min_readable}")
        self.encoder_min_readable = encoder_min_readable
        if encoder_precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"harm: encoder_precision must be fp32, bf16 or auto, got {encoder_precision!r}")
        self.encoder_precision = encoder_precision
        self._lock = threading.Lock()
        self.model = HarmModel(self.manifest_path)
        self._fast_thr = np.array([self.model.thresholds[c] for c in self.model.categories])
        use_encoder = encoder != "off" and self.scope != "off"
        self.heads, self.encoder = self._load_encoder_tier() if use_encoder else (None, None)
        self.stats = {"windows": 0, "encoder_windows": 0, "unreadable_windows": 0}

    def _load_encoder_tier(self) -> tuple[Any, Any]:
        from filters.detectors.encoder import MODEL_SHA256, EncoderError, EncoderUnavailable, TextEncoder
        from filters.detectors.harm_tiers import EncoderHeads, EncoderTierError

        try:
            heads = EncoderHeads(ENCODER_MANIFEST, Path(self.manifest_path), self.model.categories)
            if heads.model_sha256 != MODEL_SHA256:
                raise EncoderTierError("harm encoder tier: heads were trained on other encoder weights")
            return heads, TextEncoder(max_tokens=heads.max_tokens, precision=self.encoder_precision)
        except (EncoderUnavailable, HarmModelError, EncoderError) as e:
            if self.encoder_mode == "required":
                raise HarmModelError(f"harm: detectors.harm.encoder is 'required' but {e}") from e
            _say_fast_only_once(str(e))
            return None, None

    def warm_up(self) -> None:
        """Build the encoder's kernels for a window of every token count now (`Filter.warm_up`).

        Why: windows are embedded one at a time, and on the packed bf16 path the first window of each
        length costs ~4 ms more while oneDNN builds its kernels. Warming costs ~1.2 CPU-s, more than a
        process ever pays for building them as it goes (each length once, at most ~0.5 s), so it is for
        long-lived callers whose first requests should not be the slow ones (the server), not for
        throughput (BENCHMARKS.md, 2026-12-05 fourteenth session)."""
        if self.encoder is not None:
            with self._lock:  # the encoder's torch module is shared with detect_batch
                self.encoder.warm_single_texts()

    def __getstate__(self) -> dict[str, Any]:
        return {
            "manifest_path": self.manifest_path,
            "encoder": self.encoder_mode,
            "pretrain_scope": self.scopes["pretrain"],
            "runtime_scope": self.scopes["runtime"],
            "mode": self.mode,
            "min_content_words": self.min_content_words,
            "encoder_min_readable": self.encoder_min_readable,
            "encoder_precision": self.encoder_precision,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def window_scores(self, views: list[NormalizedText]) -> list[WindowScores]:
        """Per text: its normalized windows, each window's final score per category, and which windows
        name a minor (only those count for sexual_minors)."""
        per_text = []
        for view in views:
            text = view.text[:MAX_TEXT_CHARS]
            bounds = window_bounds(text, self.model.spec.window_chars)
            margins, content_words = self.model.window_margins(text, bounds)
            probs = self.model.calibrate(margins)
            probs[content_words < self.min_content_words] = 0.0  # too little evidence
            per_text.append((text, bounds, probs))
        self.stats["windows"] += sum(len(b) for _, b, _ in per_text)
        if self.heads is not None:
            self._judge_band(per_text, views)
        k_minors = self.model.categories.index("sexual_minors")
        out = []
        for text, bounds, probs in per_text:  # sexual_minors only where a minor is named
            minor = minor_windows(text, bounds)
            probs[~minor, k_minors] = 0.0
            out.append(WindowScores(bounds, probs, minor))
        return out

    def _judge_band(
        self, per_text: list[tuple[str, list[tuple[int, int]], np.ndarray]], views: list[NormalizedText]
    ) -> None:
        """Replace the fast scores of uncertain windows by the stronger tier's (in place)."""
        from filters.detectors.harm_tiers import LEET_SHARE, encoder_input, leet_share, to_fast_scale

        vocabulary = self.encoder.vocabulary()
        todo = []  # (text index, window index, the window as the encoder reads it)
        for t, (text, bounds, probs) in enumerate(per_text):
            for w in np.flatnonzero(self._judged(probs)):
                view, share = encoder_input(text[slice(*bounds[w])], vocabulary)
                raw_window = views[t].raw[slice(*views[t].raw_span(*bounds[w]))]
                if share >= self.encoder_min_readable and leet_share(raw_window) < LEET_SHARE:
                    todo.append((t, w, view))
                else:
                    self.stats["unreadable_windows"] += 1
        if not todo:
            return
        self.stats["encoder_windows"] += len(todo)
        # One window at a time: a batch pads its texts to the longest and changes the matrix shapes, so
        # a window's score would depend on which other texts share its batch (and so on worker count).
        for t, w, view in todo:
            p_head = self.heads.probabilities(self.encoder.embed([view]), per_text[t][2][w][None, :])
            per_text[t][2][w] = to_fast_scale(p_head, self.heads.thresholds, self._fast_thr)[0]

    def _judged(self, probs: np.ndarray) -> np.ndarray:
        """Which windows (rows of fast probabilities) the encoder judges in this mode."""
        if self.scope == "all":
            return np.ones(len(probs), dtype=bool)
        if self.scope == "confirm":
            return (probs >= self._fast_thr).any(axis=1)
        return self.heads.in_band(probs)

    def detect_batch(self, texts: list[str]) -> list[DetectorResult]:
        views = [normalize(t if isinstance(t, str) else "") for t in texts]
        with self._lock:  # the encoder's torch module is shared; one batch at a time
            scored = self.window_scores(views)
        cats = self.model.categories
        k_sexual = cats.index("sexual")
        out = []
        for view, (bounds, probs, minor) in zip(views, scored, strict=True):
            best = probs.argmax(axis=0)
            scores = {c: float(probs[best[i], i]) for i, c in enumerate(cats)}
            with_minor = [probs[w, k_sexual] if m else 0.0 for w, m in enumerate(minor)]
            w_minor = int(np.argmax(with_minor))
            scores[SEXUAL_WITH_MINOR] = float(with_minor[w_minor])
            spans = [
                Span(c, *view.raw_span(*bounds[best[i]]), label="harm_window")
                for i, c in enumerate(cats)
                if scores[c] >= self.model.thresholds[c]
            ]
            if scores[SEXUAL_WITH_MINOR] >= self.model.thresholds["sexual"]:
                spans.append(Span("sexual_minors", *view.raw_span(*bounds[w_minor]), label="harm_window"))
            out.append(DetectorResult(scores=scores, spans=spans))
        return out
