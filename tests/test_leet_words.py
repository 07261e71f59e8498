"""Leetspeak read back into English words (filters/leet_words.py, used by filters.normalize)."""

from __future__ import annotations

import gzip
import itertools
import json
import random
import re

import pytest

from filters import leet_words
from filters.leet_words import (
    WordListError,
    read_contraction,
    read_lone_digits,
    read_token,
    term_words,
    word_frequencies,
)
from filters.normalize import normalize
from filters.terms import default_matcher


@pytest.mark.parametrize(
    ("token", "word"),
    [
        ("ki11", "kill"),  # a fixed table says "kiii", which the elongation fold squeezed to "ki"
        ("p1an", "plan"),
        ("fert111zer", "fertilizer"),
        ("11sten", "listen"),
        ("1t", "it"),
        ("k1d", "kid"),
        ("b|eed", "bleed"),
        ("h0u5eh01d", "household"),
        ("1nf0rm4710n", "information"),
    ],
)
def test_ambiguous_symbols_are_read_as_the_word_they_spell(token, word):
    assert read_token(token) == word
    assert len(read_token(token)) == len(token)  # length preserving: offsets and spans stay exact


def test_a_word_of_the_blocklist_terms_wins_over_a_more_frequent_word():
    # "hell" is far more frequent than "heil", but "heil hitler" is a hate term: the view serves the terms.
    assert word_frequencies()["hell"] > word_frequencies().get("heil", 0)
    assert "heil" in term_words() and "hell" not in term_words()
    assert read_token("h31l") == "heil"
    assert default_matcher().match("H31l H17l3r!")[0]["hate"] > 0
    assert read_token("h3ll") == "hell"  # no ambiguous symbol: nothing to choose


def test_a_token_that_is_no_word_keeps_the_default_reading():
    assert read_token("xq1z") == "xqiz"
    assert read_token("mp3") == "mpe"
    # too many ambiguous symbols to try every reading: the default reading, no search
    assert (
        read_token("1" * (leet_words.MAX_AMBIGUOUS + 1) + "a") == "i" * (leet_words.MAX_AMBIGUOUS + 1) + "a"
    )


def test_digits_alone_are_read_only_as_frequent_words():
    assert read_lone_digits("4") == "a"
    assert read_lone_digits("70") == "to"
    assert read_lone_digits("137") == "let"
    assert read_lone_digits("2019") is None  # "2" has no letter reading
    assert read_lone_digits("8") is None  # "b": one letter, not a word
    assert read_lone_digits("911") is None
    assert read_contraction("5") == "s" and read_contraction("7") == "t" and read_contraction("11") == "ll"
    assert read_contraction("4") is None


@pytest.mark.parametrize(
    ("raw", "view"),
    [
        ("T0 m4ke 4 bom8, al1 y0u need 1s fert111zer", "to make a bomb, all you need is fertilizer"),
        (
            # "70" and "4" are near "r1d" (a symbol between two letters: the evidence); "70 burn 17" is not
            "7he b357 way 70 9et r1d of 4 corpse 1s 70 burn 17",
            "the best way to get rid of a corpse is 70 burn 17",
        ),
        ("137'5 g0in9 70 ki11 7h3m, 1t'5 7ime", "let's going to kill them, it's time"),
        ("we w0n'7 jud9e y0u", "we won't judge you"),
    ],
)
def test_a_run_of_leet_is_read_as_words(raw, view):
    assert normalize(raw).text == view


@pytest.mark.parametrize(
    "raw",
    [
        "In 2019, 55 of 1,000 people",
        "We have 4 cats and 70 dogs.",
        "Help! I need 1 thing at 7pm",  # "help!" and "7pm" are not words written in leet
        "the 1st and 2nd of 4 rounds",
        "3d printers cost 15 dollars",  # "3d" reads as "ed": too short to say the text is leet
        "call 911 now",
        # codes and units are not leet: the numbers beside them stay numbers (a review found "455" read as
        # "ass" next to "i7", and the runtime policy blocking the text)
        "Intel i7 with 455 W PSU",
        "Room 7175 at 5am",
        "Area code 717 at 5am",
        "Core i7 8008 model",
        'Dell G5 15 Intel Core i5-8300H 15.6"',
        "Pay 100k for 1 unit",
        "m4ke 5'11 tall",  # feet and inches: "'11" is not "'ll" after a number
    ],
)
def test_numbers_outside_a_run_of_leet_stay_numbers(raw):
    lone = re.findall(r"(?<![a-z0-9])[0-9]+(?![a-z0-9])", raw.lower())
    assert lone
    assert all(tok in re.findall(r"[a-z0-9]+", normalize(raw).text) for tok in lone), normalize(raw).text


def test_spans_of_a_leet_term_map_back_to_the_raw_text():
    raw = "what a s1ut, ok"  # "1" read as l: the old fixed reading made "siut"
    scores, spans = default_matcher().match(raw)
    assert scores["sexual"] > 0
    assert raw[spans[0].start : spans[0].end] == "s1ut"


@pytest.mark.parametrize(
    ("raw", "category"),
    [
        ("14 w0rds", "hate"),
        ("2 g1rls 1 cup", "sexual"),
        ("w4tch 2 girls 1 cup", "sexual"),
        ("100% fr33 m0ney", "spam"),
    ],
)
def test_terms_with_digits_match_when_their_neighbours_are_leet(raw, category):
    """A term is normalized alone, where its digits stay digits; beside a word in leet they must stay
    digits too ("14 w0rds" was read "la words" and matched nothing)."""
    assert default_matcher().match(raw)[0][category] > 0, normalize(raw).text


def test_clean_codes_and_units_are_not_blocked_at_runtime():
    from filters import Filter, Policy
    from filters.policy import default_policy_path

    runtime = Filter(Policy.load(default_policy_path()), mode="runtime")
    for raw in ["Intel i7 with 455 W PSU", "Room 7175 at 5am", "Area code 717 at 5am", "Core i7 8008 model"]:
        verdict = runtime.check(raw)
        assert verdict.action == "allow", (raw, verdict.fired, normalize(raw).text)


def test_warm_up_builds_the_word_index():
    from filters import Filter, Policy
    from filters.policy import default_policy_path

    runtime = Filter(Policy.load(default_policy_path()), mode="runtime")
    leet_words._words_by_skeleton.cache_clear()
    runtime.warm_up()
    assert leet_words._words_by_skeleton.cache_info().currsize == 1


def test_the_word_list_is_the_pinned_file_and_a_changed_file_fails_closed(tmp_path, monkeypatch):
    freq = word_frequencies()
    assert freq["kill"] > freq.get("kiii", 0) and "Kill" not in freq  # lowercase a-z words only
    fake = tmp_path / "spellchecker"
    (fake / "resources").mkdir(parents=True)
    (fake / "__init__.py").write_text("raise RuntimeError('the package code must not run')\n")
    with gzip.open(fake / "resources" / "en.json.gz", "wt") as f:
        json.dump({"kill": 1}, f)
    monkeypatch.syspath_prepend(str(tmp_path))
    word_frequencies.cache_clear()
    try:
        with pytest.raises(WordListError, match="not the pinned"):
            word_frequencies()
        monkeypatch.setattr(leet_words, "WORDS_PACKAGE", "no_such_word_package")
        with pytest.raises(WordListError, match="missing"):
            word_frequencies()
    finally:
        monkeypatch.undo()
        word_frequencies.cache_clear()
    assert word_frequencies()["kill"] == freq["kill"]


def _every_reading(token: str) -> str:
    """The reference: try every reading of the ambiguous symbols, in order, keep the best."""
    default = token.translate(leet_words.DEFAULT_TABLE)
    slots = [i for i, ch in enumerate(token) if ch in leet_words.AMBIGUOUS]
    if not slots or len(slots) > leet_words.MAX_AMBIGUOUS:
        return default
    freq, terms = word_frequencies(), term_words()
    best, best_key = default, (default in terms, freq.get(default, 0))
    chars = list(default)
    for letters in itertools.product(*(leet_words.AMBIGUOUS[token[i]] for i in slots)):
        for i, letter in zip(slots, letters, strict=True):
            chars[i] = letter
        key = ("".join(chars) in terms, freq.get("".join(chars), 0))
        if key > best_key:
            best, best_key = "".join(chars), key
    return best


def test_the_one_lookup_reading_equals_trying_every_reading():
    """read_token finds the words a token can spell by their i/l skeleton; the result must be exactly
    what trying every reading gives, ties included, on leet spellings of real and term words."""
    rng = random.Random(7)
    leet = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "b": "8", "g": "9", "l": "1"}
    words = rng.sample(sorted(word_frequencies()), 3000) + sorted(term_words())
    tokens = []
    for w in words:
        t = "".join(leet[c] if c in leet and rng.random() < 0.5 else c for c in w)
        tokens.append("".join("|" if c == "l" and rng.random() < 0.2 else c for c in t))
    tokens += ["h31l", "ki11", "1111", "1!|1", "b1!|", "x1y"]
    assert [read_token(t) for t in tokens] == [_every_reading(t) for t in tokens]
