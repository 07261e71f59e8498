"""The harm classifier's stronger tier: linear heads over a sentence encoder's embedding of a window
and the fast tier's eight log-odds, applied only where the fast tier is unsure. (Since 2026-12-05
hate, harassment, sexual, violence and profanity heads have zero weight on the log-odds, i.e. read
the embedding only, and self_harm's since 2026-12-06; `scripts/train_harm_encoder.py` says why. The file
format is unchanged.)

Why two tiers: the fast tier (hashed n-grams, `filters/detectors/harm.py`) scores every window of
every document cheaply but knows words, not meaning; the encoder (all-MiniLM-L6-v2,
`filters/detectors/encoder.py`) knows meaning but costs ~10 ms per window. A window goes to the
encoder when, for some category, its fast score is at or above that category's band edge
(`band_low`, chosen on dev so that 98% of dev positives are above it); below every edge the fast
score stands (it is below the category's threshold, so nothing fires).

One scale for the policy: a category's score in the band is the head's calibrated probability
mapped piecewise-linearly so that the head's own dev threshold lands on the fast tier's threshold
(the one in harm_calibration.json that the policy uses): `harm:<category>` keeps one threshold
whether or not the encoder is installed, and within each tier the order of scores is kept.

The encoder reads a window with spaced-apart words joined back (`despaced`: "pi pe bo mb" -> "pipe
bomb") and only judges it when it can read it (`readable_share`): letters spaced apart leave word
pieces that carry no meaning, and a head that trusts them clears harm the n-grams had found
(spaced-letter rewrites lost 11 points of detection with the encoder confirming; the fast tier
alone gained 1.25). Below the share the detector's `encoder_min_readable` asks for, a run of pieces that
looks spaced out (`looks_spaced`: three or more short fragments, short pieces on average) is split back into
frequent words (`resegmented`: "te llme ho wto bu ildap ip ebo mbf ro msc ra tch" -> "tell me how to build a
pipe bomb from scratch"), and if the window then reaches the share the encoder reads that; otherwise the fast
score stands. Leetspeak arrives read back into words by the normalizer (`filters.leet_words`).
"""

from __future__ import annotations

import io
import json
import re
from itertools import pairwise
from pathlib import Path

import numpy as np

from filters.detectors.base import HarmModelError, read_verified
from kit.files import file_sha256

ENCODER_FORMAT = "winnow-harm-encoder/1"
MAX_TOKENS = 128  # a 400-character window is ~100 word pieces
LOGIT_CLIP = 12.0
LOGIT_SCALE = 4.0  # fast log-odds / 4: on the order of the embedding's coordinates times the weights


_ASCII_WORD = re.compile(r"[a-z]+")
# The one- and two-letter words of plain English and the pieces a normalized contraction leaves ("don't"
# -> "don t", "you'll" -> "you ll"): a piece of a spaced-apart word is one that is neither these nor a
# known word of three or more letters.
COMMON_SHORT_WORDS = frozenset((
    "a", "i", "s", "t", "d", "m", "am", "an", "as", "at", "be", "by", "do", "go", "he", "hi", "if", "in",
    "is", "it", "me", "my", "no", "of", "oh", "ok", "on", "or", "so", "to", "up", "us", "we", "ll", "re", "ve",
))  # fmt: skip
PLAIN_ONE_LETTER = frozenset(w for w in COMMON_SHORT_WORDS if len(w) == 1)
MIN_WORDS_TO_JUDGE = 4  # fewer words say too little about readability: the window counts as readable
MIN_JOINED = 4
MAX_JOINED_PIECES = 4


def _whole_word(word: str, vocabulary: frozenset[str]) -> bool:
    """A word on its own, not a piece of one: a known word of three or more letters, or a short word."""
    return (len(word) > 2 and word in vocabulary) or word in COMMON_SHORT_WORDS


def readable_share(text: str, vocabulary: frozenset[str]) -> float:
    """Share of the ASCII words of a (normalized, lower-case) window that the encoder can read: a word
    of two or more letters it knows whole, or a one-letter word of plain English. A short piece (one or
    two letters) one space from a neighbour it joins into a known word of four or more letters ("ki
    ll") counts as unreadable on both sides, unless both are words ("a way", "we ll"). 1.0 for a
    window with fewer than four ASCII words."""
    found = list(_ASCII_WORD.finditer(text))
    if len(found) < MIN_WORDS_TO_JUDGE:
        return 1.0
    words = [m.group() for m in found]
    bad = [not ((w in vocabulary and len(w) > 1) or w in PLAIN_ONE_LETTER) for w in words]
    for i, (a, b) in enumerate(pairwise(found)):
        x, y = a.group(), b.group()
        if (
            min(len(x), len(y)) <= 2
            and len(x) + len(y) >= MIN_JOINED
            and text[a.end() : b.start()] == " "
            and x + y in vocabulary
            and not (_whole_word(x, vocabulary) and _whole_word(y, vocabulary))
        ):
            bad[i] = bad[i + 1] = True
    return 1.0 - sum(bad) / len(words)


def despaced(text: str, vocabulary: frozenset[str]) -> str:
    """The window with spaced-apart words joined back ("ki ll" -> "kill"): a run of two to four
    pieces, one space apart, becomes one word when together they spell a known word of four or more
    letters and at least one piece is not a word itself (longest run first, left to right). Plain
    text is left as it is: its pieces are words ("a way" stays)."""
    pieces = list(_ASCII_WORD.finditer(text))
    out, pos, i = [], 0, 0
    while i < len(pieces):
        for k in range(min(MAX_JOINED_PIECES, len(pieces) - i), 1, -1):
            run = pieces[i : i + k]
            word = "".join(m.group() for m in run)
            if (
                len(word) >= MIN_JOINED
                and all(text[a.end() : b.start()] == " " for a, b in pairwise(run))
                and word in vocabulary
                and not all(_whole_word(m.group(), vocabulary) for m in run)
            ):
                out += [text[pos : run[0].start()], word]
                pos, i = run[-1].end(), i + k
                break
        else:
            i += 1
    return "".join([*out, text[pos:]])


# Re-splitting glued fragments of spaced-out words (`resegmented`): which runs look spaced out, which words a
# split may use, and the bar a split must pass.
SEGMENT_MIN_FREQUENCY = 1000  # the same bar as filters.leet_words.MIN_WORD_FREQUENCY for a "frequent word"
SEGMENT_MAX_WORD = 24
SEGMENT_MIN_MEAN_LETTERS = 3.0  # a split into many short words is more likely junk than the text
# A run looks spaced out with at least 3 fragments (pieces of at most 3 letters that are not words; plain text's runs
# rarely hold three) and pieces averaging at most 3.5 letters (plain text's runs ~5.5, a spaced rewrite's ~3).
SPACED_MIN_FRAGMENTS = 3
SPACED_MAX_MEAN_PIECE = 3.5
# Letter pieces joined by single spaces, starting at the window's start or after a space and ending before a character
# that is not a letter, digit or "_" (a space, punctuation, the end): no letters are taken from a token that holds a
# digit or a letter of another script ("für", "4chan"). Not symmetric: a run may end before an apostrophe or a hyphen
# ("abo-mb" ends at "abo") but not start after one, or after a quote or bracket.
_RUN = re.compile(r"(?<!\S)[a-z]+(?: [a-z]+)+(?!\w)")


class WordCosts:
    """Word -> cost (−log of its share of the candidates' total count) for the words a split may use: those the
    encoder knows whole, frequent in the pinned English word list, of 2 to 24 letters, plus "a" and "i"."""

    def __init__(self, vocabulary: frozenset[str]):
        from filters.leet_words import word_frequencies

        keep = {
            w: n
            for w, n in word_frequencies().items()
            if (2 <= len(w) <= SEGMENT_MAX_WORD and w in vocabulary and n >= SEGMENT_MIN_FREQUENCY)
            or w in ("a", "i")
        }
        total = float(sum(keep.values()))
        self.cost = {w: float(np.log(total / n)) for w, n in keep.items()}

    def split(self, letters: str) -> list[str] | None:
        """The cheapest split of `letters` into candidate words, or None when there is none."""
        n = len(letters)
        best = [0.0] + [np.inf] * n
        back = [0] * (n + 1)
        for end in range(1, n + 1):
            for start in range(max(0, end - SEGMENT_MAX_WORD), end):
                c = self.cost.get(letters[start:end])
                if c is not None and best[start] + c < best[end]:
                    best[end], back[end] = best[start] + c, start
        if not np.isfinite(best[n]):
            return None
        words, end = [], n
        while end > 0:
            words.append(letters[back[end] : end])
            end = back[end]
        return words[::-1]


def looks_spaced(pieces: list[str], vocabulary: frozenset[str]) -> bool:
    """Whether a run of letter pieces is a spaced-out rewrite rather than plain text with words the encoder does not
    know whole: several short fragments that are not words, and short pieces on average."""
    fragments = sum(len(p) <= 3 and not _whole_word(p, vocabulary) for p in pieces)
    return fragments >= SPACED_MIN_FRAGMENTS and sum(map(len, pieces)) / len(pieces) <= SPACED_MAX_MEAN_PIECE


def resegmented(window: str, vocabulary: frozenset[str], costs: WordCosts) -> str:
    """The window with glued fragments of spaced-out words split back into words ("te llme ho wto bu ildap ip ebo
    mbf ro msc ra tch" -> "tell me how to build a pipe bomb from scratch"): each run of letter pieces that looks
    spaced out (`looks_spaced`) is glued and split again into the cheapest sequence of candidate words; a run that
    cannot be split wholly, or whose words would average fewer than three letters, stays as it was. For windows the
    encoder cannot read otherwise (the detector asks only then): on readable text a rare word would be split into
    junk."""

    def fix(m: re.Match[str]) -> str:
        pieces = m.group().split(" ")
        if not looks_spaced(pieces, vocabulary):
            return m.group()
        words = costs.split("".join(pieces))
        if not words or sum(map(len, words)) / len(words) < SEGMENT_MIN_MEAN_LETTERS:
            return m.group()
        return " ".join(words)

    return _RUN.sub(fix, window)


# A digit or one of @ $ ! | + written between two letters of a word ("m4k3", "b0mb", "m@ke"): trailing
# punctuation ("Help!"), ordinals and units ("1st", "7pm") and "C++" or "COVID-19" do not count.
_LEET_INSIDE = re.compile(r"[^\W\d_][0-9@$!|+]+[^\W\d_]")
_LETTER = re.compile(r"[^\W\d_]")
LEET_SHARE = 0.25  # a window with this share of its lettered tokens still written in leet is not read


def leet_share(window: str) -> float:
    """Share of the whitespace-separated tokens holding a letter that have a digit or @ $ ! | +
    between two of their letters. Measured on what the encoder reads: the normalizer has read
    single-character leet back into words by then, so what is left is leet it could not read."""
    lettered = [tok for tok in window.split() if _LETTER.search(tok)]
    if not lettered:
        return 0.0
    return sum(1 for tok in lettered if _LEET_INSIDE.search(tok)) / len(lettered)


def encoder_input(window: str, vocabulary: frozenset[str]) -> tuple[str, float]:
    """What the encoder reads of a (normalized) window, and the readable share of that text."""
    view = despaced(window, vocabulary)
    return view, readable_share(view, vocabulary)


class EncoderTierError(HarmModelError):
    """The stronger tier's files are missing, altered or do not belong to the installed models."""


def head_features(emb: np.ndarray, p_fast: np.ndarray) -> np.ndarray:
    """[embedding | clipped, scaled fast-tier log-odds]: what a head reads for one window."""
    p = np.clip(p_fast, 1e-9, 1 - 1e-9)
    logit = np.clip(np.log(p / (1 - p)), -LOGIT_CLIP, LOGIT_CLIP) / LOGIT_SCALE
    return np.hstack([emb.astype(np.float64), logit]).astype(np.float64)


def to_fast_scale(p: np.ndarray, head_thr: np.ndarray, fast_thr: np.ndarray) -> np.ndarray:
    """Map head probabilities so that each head threshold lands on the fast threshold (monotone)."""
    below = p * fast_thr / head_thr
    above = fast_thr + (p - head_thr) * (1 - fast_thr) / np.maximum(1 - head_thr, 1e-12)
    return np.where(p < head_thr, below, above)


class EncoderHeads:
    """The trained heads, calibration, thresholds and band edges, checked against the fast tier's
    manifest and the encoder weights they were trained with (fail closed on any mismatch)."""

    def __init__(self, manifest_path: Path, fast_manifest: Path, categories: tuple[str, ...]):
        try:
            m = json.loads(manifest_path.read_text(encoding="utf-8"))
            if m.get("format") != ENCODER_FORMAT:
                raise EncoderTierError(
                    f"harm encoder tier: {manifest_path} is not a {ENCODER_FORMAT} manifest"
                )
            fast_sha = file_sha256(fast_manifest)
            if m["fast_manifest_sha256"] != fast_sha:
                raise EncoderTierError(
                    f"harm encoder tier: {manifest_path.name} was trained with another fast tier "
                    f"({fast_manifest.name} sha256 {fast_sha}): retrain it (scripts/train_harm_encoder.py)"
                )
            if tuple(m["categories"]) != tuple(categories):
                raise EncoderTierError("harm encoder tier: categories differ from the fast tier's")
            self.model_sha256 = m["encoder"]["model_sha256"]
            self.max_tokens = int(m["encoder"]["max_tokens"])
            heads = read_verified(
                manifest_path.parent / m["heads"]["file"], m["heads"]["sha256"], "encoder heads"
            )
            self.platt_a = np.array([m["platt"][c]["a"] for c in categories])
            self.platt_b = np.array([m["platt"][c]["b"] for c in categories])
            self.thresholds = np.array([m["thresholds"][c] for c in categories])
            self.band_low = np.array([m["band_low"][c] for c in categories])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise EncoderTierError(f"harm encoder tier: bad manifest {manifest_path}: {e}") from e
        with np.load(io.BytesIO(heads), allow_pickle=False) as z:
            self.weights, self.bias = z["weights"].astype(np.float64), z["bias"].astype(np.float64)
        if self.weights.shape[1] != len(categories) or self.bias.shape != (len(categories),):
            raise EncoderTierError(f"harm encoder tier: heads shape {self.weights.shape} does not fit")

    def probabilities(self, emb: np.ndarray, p_fast: np.ndarray) -> np.ndarray:
        """Calibrated head probabilities per window and category."""
        margin = head_features(emb, p_fast) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-(margin * self.platt_a + self.platt_b)))

    def in_band(self, p_fast: np.ndarray) -> np.ndarray:
        """Which windows the encoder must judge: some category at or above its band edge."""
        return (p_fast >= self.band_low).any(axis=1)
