"""The chunk table (one lookup per code point for lowercase, class and NFKC) must give exactly the reference
shingles: per character, in any context, and when texts with flagged characters are renormalized mid-chunk."""

from __future__ import annotations

import numpy as np

from dedup.shingle import (
    _CHECKED_CPS,
    _CHUNK_CPS,
    _FLAG,
    _SEP,
    TOKEN_RE,
    _char_classes,
    _tables,
    hash32,
    normalize,
    shingle_hashes_batch,
    shingles,
)


def test_each_unflagged_character_maps_like_normalize():
    mapped, entry = _tables()
    cls = _char_classes()
    ok = np.flatnonzero((entry[:_CHECKED_CPS] & _FLAG) == 0)
    assert len(ok) > 200_000  # nearly all of planes 0-3 take the table path
    for c in ok.tolist():
        want = normalize(chr(c))
        if cls[mapped[c]] == _SEP:
            assert TOKEN_RE.findall(want) == [], hex(c)
        else:
            assert want == chr(mapped[c]), hex(c)
    # The characters web text needs most: no-break spaces and ellipses become separators, full-width
    # letters their ASCII lowercase; composing and reordering marks, Hangul jamo, İ and Σ are flagged.
    assert mapped[0xA0] == mapped[0x2026] == mapped[0x3000] == ord(" ")
    assert mapped[0xFF21] == ord("a")
    for c in (0x301, 0x9BE, 0x1161, 0x11A8, 0x130, 0x3A3, 0x40000):
        assert entry[c] & _FLAG, hex(c)


# Characters that compose with or reorder around the one before them (or whose lowercase needs context).
INTERACTING = np.array(
    [0x301, 0x308, 0x327, 0x3099, 0x9BE, 0x9D7, 0x1161, 0x1175, 0x11A8, 0x11C2, 0x130, 0x3A3]
)


def _pool() -> np.ndarray:
    """Characters around every rule of the table: composing pairs, marks, jamo, compatibility forms."""
    ranges = [
        (0x41, 0x5A),  # ASCII capitals
        (0x61, 0x7A),
        (0x20, 0x2F),  # separators
        (0xA0, 0x17F),  # Latin-1, Latin extended-A (precomposed letters, ½, ª)
        (0x300, 0x36F),  # combining marks
        (0x390, 0x3CF),  # Greek incl. Σ and final-sigma contexts
        (0x400, 0x45F),  # Cyrillic
        (0x980, 0x9FF),  # Bengali: vowel signs that compose with the letter before
        (0x1100, 0x11FF),  # Hangul jamo
        (0xAC00, 0xAC40),  # Hangul syllables (compose with a final jamo)
        (0x1E00, 0x1EFF),  # Latin extended additional
        (0x2000, 0x2070),  # spaces, dashes, "…", superscripts
        (0x2150, 0x218F),  # number forms
        (0x2460, 0x24FF),  # enclosed alphanumerics
        (0x3000, 0x30FF),  # CJK symbols, kana
        (0xFB00, 0xFB06),  # ligatures
        (0xFF01, 0xFF9F),  # full-width and half-width forms
    ]
    extra = [0x130, 0x131, 0x3A3, 0xDF, 0x1E9E, 0x4E00, 0x20000, 0xD800, 0x0, 0xA]
    return np.array([c for lo, hi in ranges for c in range(lo, hi + 1)] + extra)


def test_random_texts_over_tricky_characters_equal_reference():
    """Mostly plain letters with one or two characters from the pool, so that each tricky character meets
    neighbours it can compose with instead of hiding behind another flagged character."""
    rng = np.random.default_rng(1)
    pool = _pool()
    # Letters, spaces and characters that start a composition: e, か, Bengali vowel sign E, Hangul L and LV.
    plain = np.array([*range(0x61, 0x7B), *(0x20,) * 8, 0xE9, 0x438, 0x304B, 0x9C7, 0x1100, 0xAC00, 0xAC1C])
    texts = []
    for _ in range(3000):
        cps = rng.choice(plain, int(rng.integers(2, 40)))
        k = int(rng.integers(1, 3))
        cps[rng.choice(len(cps), k, replace=False)] = rng.choice(
            INTERACTING if rng.random() < 0.5 else pool, k
        )
        texts.append("".join(map(chr, cps)))
    for n, cn in ((3, 5), (1, 2)):
        for text, got in zip(texts, shingle_hashes_batch(texts, n, cn), strict=True):
            assert got.tolist() == [hash32(s) for s in shingles(text, n, cn)], repr(text)


def test_each_interacting_character_after_each_starter():
    starters = [0x61, 0x65, 0x20, 0xE9, 0x438, 0x304B, 0x9C7, 0x1100, 0xAC00, 0xAC1C, 0x3A3]
    texts = [f"ab {chr(s)}{chr(x)}cd ef gh" for s in starters for x in INTERACTING.tolist()]
    for text, got in zip(texts, shingle_hashes_batch(texts, 2, 2), strict=True):
        assert got.tolist() == [hash32(s) for s in shingles(text, 2, 2)], repr(text)


def test_flagged_texts_renormalized_mid_chunk():
    """Flagged texts change length when normalized (½ -> 1⁄2); their neighbours in the chunk must not move."""
    texts = [
        "plain words before",
        "a ½ cup of ﬂour and ¼ more",
        "Ａｂｃ full width … and\u00a0nbsp",
        "ΟΔΥΣΣΕΥΣ İZMİR",
        "e\u0301 composed later, cafe\u0301",
        "after the flagged ones " * 30,
        "한국어 문장 \u1100\u1161\u11a8",
    ]
    for text, got in zip(texts, shingle_hashes_batch(texts, 3, 5), strict=True):
        assert got.tolist() == [hash32(s) for s in shingles(text, 3, 5)], repr(text)


def test_many_chunks_equal_one_text_at_a_time():
    """Texts spanning several chunks (flagged ones among them) hash as they do alone."""
    base = ["plain words " * 400, "a ½ cup and Ａｂｃ … " * 300, "Ünïcödé wörds ﬁne " * 500, "", "x"]
    texts = base * (2 * _CHUNK_CPS // sum(map(len, base)) + 2)
    assert sum(map(len, texts)) > 2 * _CHUNK_CPS
    batch = shingle_hashes_batch(texts, 3, 5)
    for text, got in zip(base, batch[: len(base)], strict=True):
        assert got.tolist() == [hash32(s) for s in shingles(text, 3, 5)]
    for i, got in enumerate(batch):
        assert np.array_equal(got, batch[i % len(base)])
