"""The harm fast tier's scoring loop, compiled: per window, the same hashed n-gram features as
`harm_features.featurize_counted`, multiplied into the weights as they are hashed.

Why: `featurize` builds every window's sparse vector with a dozen numpy passes and a sort (which the
training script needs, to hand a sparse matrix to scikit-learn); scoring needs only x @ w, and one
pass over the characters gives it without the temporaries or the sort. `featurize` + `linear_margins`
stay the reference (training, and tests/test_harm_kernel.py, which holds the two within 1e-5 in margin:
the reference sums float32 products, this loop float64). The hash constants live here, and `harm`
imports them, so the two paths cannot drift apart.

Per window and feature family the margin is sum_b count_b * w_b / sqrt(sum_b count_b^2): counts are
kept in a scratch table of 2^18 entries that is reset after each window, so nothing is sorted.
Compiled by numba on first use and cached on disk next to this file (or in numba's user cache; where
neither is writable, compiled once per process instead)."""

from __future__ import annotations

import numpy as np
from numba import njit

MUL1 = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's finalizer multipliers
MUL2 = np.uint64(0x94D049BB133111EB)
HASH_BASE = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime, as the polynomial base of the n-gram hash
BIGRAM_MUL = np.uint64(0x9E3779B97F4A7C15)
# Salts of the mix per feature kind: a token's characters, word unigrams and bigrams, and character
# n-grams of length n (SALT_CHAR_NGRAM + n).
SALT_TOKEN_CHAR, SALT_UNIGRAM, SALT_BIGRAM, SALT_CHAR_NGRAM = 0x57, 0x51, 0x52, 0xC0
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _jit(**options):
    """numba's njit with its on-disk cache where numba finds a writable place for one; without one
    numba refuses `cache=True` at definition, so the function is compiled per process instead."""

    def wrap(fn):
        try:
            return njit(cache=True, **options)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(**options)(fn)

    return wrap


@_jit(inline="always")
def _mix(h, salt):
    """splitmix64 finalizer of h ^ salt (harm_features._mix, one value)."""
    h = h ^ salt
    h = (h ^ (h >> _S30)) * MUL1
    h = (h ^ (h >> _S27)) * MUL2
    return h ^ (h >> _S31)


@_jit()
def _is_framing(h, framing):
    """Whether token hash h is in the sorted array `framing`."""
    at = np.searchsorted(framing, h)
    return at < len(framing) and framing[at] == h


@_jit()
def _add_family(counts, touched, n_touched, weights, out_row):
    """Adds one window's family (its buckets' counts) to `out_row`, L2-scaled, and resets the counts."""
    if n_touched == 0:
        return
    sumsq = 0.0
    for t in range(n_touched):
        c = counts[touched[t]]
        sumsq += c * c
    inv = 1.0 / np.sqrt(sumsq)
    n_cat = weights.shape[1]
    for t in range(n_touched):
        b = touched[t]
        scale = counts[b] * inv
        for k in range(n_cat):
            out_row[k] += scale * weights[b, k]
        counts[b] = 0


@_jit(nogil=True)
def window_margins(
    cp,
    is_word,
    starts,
    ends,
    framing,
    weights,
    bias,
    char_ngrams,
    word_ngrams,
    max_token,
    counts,
):
    """(margins [n_windows, n_categories] float64, content words per window) of the folded code
    points `cp` (uint64) cut into windows [starts[k], ends[k]) (sorted, starting at 0, within the
    text, as `harm.window_bounds` cuts them; a token belongs to the window it starts in, or the
    last one before it); `is_word` marks word characters.
    The arguments mirror `harm.FeatureSpec`; `framing` is the sorted framing-word hashes;
    `word_ngrams` is [unigrams?, bigrams?]. `counts` is a zeroed int64 scratch table of one entry
    per bucket, handed back zeroed (allocating and faulting in 2 MB per text would cost more than
    the scoring)."""
    n, n_win, n_cat = len(cp), len(starts), weights.shape[1]
    mask = np.uint64(weights.shape[0] - 1)
    out = np.zeros((n_win, n_cat), dtype=np.float64)
    content = np.zeros(n_win, dtype=np.int64)

    # Tokens: runs of word characters cut every max_token; hash = sum of mix(cp * base + position).
    tok_start = np.empty(n, dtype=np.int64)
    tok_end = np.empty(n, dtype=np.int64)
    tok_hash = np.empty(n, dtype=np.uint64)
    n_tok = 0
    run = 0
    for i in range(n):
        if not is_word[i]:
            run = 0
            continue
        pos = run % max_token
        if pos == 0:
            tok_start[n_tok] = i
            tok_hash[n_tok] = np.uint64(0)
            n_tok += 1
        tok_end[n_tok - 1] = i + 1
        tok_hash[n_tok - 1] += _mix(cp[i] * HASH_BASE + np.uint64(pos), np.uint64(SALT_TOKEN_CHAR))
        run += 1

    masked = np.zeros(n, dtype=np.bool_)
    framing_tok = np.zeros(n_tok, dtype=np.bool_)
    for t in range(n_tok):
        if _is_framing(tok_hash[t], framing):
            framing_tok[t] = True
            masked[tok_start[t] : tok_end[t]] = True

    longest = 0  # the longest window, and the longest stretch from one window's start to the next's
    reach = 0
    for w in range(n_win):
        longest = max(longest, ends[w] - starts[w])
        reach = max(reach, (starts[w + 1] if w + 1 < n_win else n) - starts[w])
    # Distinct buckets of one window and family: at most len + 2 per n-gram length, and 2 per token
    # that starts between the window's start and the next window's.
    touched = np.empty(max(len(char_ngrams) * (longest + 2), 2 * (max(reach, longest) + 2)), dtype=np.int64)
    space = np.uint64(32)
    max_n = char_ngrams.max()
    wants = np.zeros(max_n + 1, dtype=np.bool_)
    for m in char_ngrams:
        wants[m] = True
    powers = np.empty(max_n, dtype=np.uint64)
    powers[0] = np.uint64(1)
    for j in range(1, max_n):
        powers[j] = powers[j - 1] * HASH_BASE

    padded = np.empty(longest + 2, dtype=np.uint64)
    padded_masked = np.zeros(longest + 2, dtype=np.bool_)
    t = 0  # next token (tokens are in text order, so each window takes the next run of them)
    for w in range(n_win):
        s, e = starts[w], ends[w]
        length = e - s + 2  # the window padded with a space on each side
        padded[0] = padded[length - 1] = space
        padded[1 : length - 1] = cp[s:e]
        padded_masked[0] = padded_masked[length - 1] = False
        padded_masked[1 : length - 1] = masked[s:e]
        # Character n-grams of the padded window that hold no framing-word character: from each
        # start, extend one character at a time and count the lengths the spec wants.
        touched_all = 0
        for i in range(length - 1):
            h = np.uint64(0)
            for j in range(min(max_n, length - i)):
                if padded_masked[i + j]:
                    break
                h += padded[i + j] * powers[j]
                if wants[j + 1]:
                    salt = np.uint64(SALT_CHAR_NGRAM + j + 1)
                    bucket = _mix(h, salt) & mask
                    if counts[bucket] == 0:  # counted inline: a helper call here costs 2x the loop
                        touched[touched_all] = bucket
                        touched_all += 1
                    counts[bucket] += 1
        _add_family(counts, touched, touched_all, weights, out[w])
        # Word unigrams and bigrams of the non-framing tokens that start in this window (up to the
        # next window's start: a cut space holds no token).
        upper = starts[w + 1] if w + 1 < n_win else n
        n_words = 0
        prev = np.uint64(0)
        while t < n_tok and tok_start[t] < upper:
            if not framing_tok[t]:
                h = tok_hash[t]
                for gram in range(2):
                    if not word_ngrams[gram] or (gram == 1 and content[w] == 0):
                        continue
                    key = h if gram == 0 else prev * BIGRAM_MUL + h
                    bucket = _mix(key, np.uint64(SALT_BIGRAM if gram else SALT_UNIGRAM)) & mask
                    if counts[bucket] == 0:
                        touched[n_words] = bucket
                        n_words += 1
                    counts[bucket] += 1
                content[w] += 1
                prev = h
            t += 1
        _add_family(counts, touched, n_words, weights, out[w])
        for k in range(n_cat):
            out[w, k] += bias[k]
    return out, content
