"""StreamGuard against the attacks of issue 12: line breaks inside blocked phrases, long runs past the
hold-back bound, rules that read ahead (the street after a number, the label before it, innocent
phrases and senses), and the property "streamed verdict and text == Filter.check" for every rule and
every chunking, under several hypothesis seeds. Self-contained: the repository's policy, inline texts.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from filters import Filter, StreamGuard
from tests.policy_data import rules_only_policy
from tests.stream_checks import assert_found_first

POLICY = Path(__file__).resolve().parents[1] / "configs" / "policy.yaml"


@pytest.fixture(scope="module")
def rules() -> Filter:
    """The shipped runtime policy minus classifier refs: every verdict comes from the rules."""
    return Filter(rules_only_policy(), mode="runtime")


def _stream(filt: Filter, pieces: list[str], **kw) -> tuple[StreamGuard, str]:
    g = StreamGuard(filt, **kw)
    out = "".join(g.feed(p) for p in pieces) + g.close()
    return g, out


def _chunkings(text: str) -> list[list[str]]:
    """One chunk, 1-character chunks, and a split at every point."""
    out = [[text], list(text)]
    out += [[text[:k], text[k:]] for k in range(1, len(text))]
    return out


def _split(text: str, cuts: list[int]) -> list[str]:
    bounds = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def _assert_like_check(filt: Filter, text: str, g: StreamGuard, out: str) -> None:
    """Run to the end: exactly check()'s verdict and text. Stopped: check() blocks the whole text, the stop was
    found at the first hit whose prefix check() blocks (`assert_found_first`), the guard's verdict is check() of
    the text up to there, and no character of the span that completed the block was released."""
    want = filt.check(text)
    if not g.stopped:
        assert g.verdict == want, text
        assert out == want.text, text
        return
    # The stop category is decided on stable text.
    assert want.action == "drop" and g.stop_reason in want.fired, text
    seen = filt.check(g.text)
    # No `stop_at`: a hold-back stop, a detector error, a block found at close(): judged on all the text seen.
    if g.stop_at is not None:
        assert_found_first(filt, g, seen)
    else:
        assert g.verdict == seen, text
    ends = [e for c, _, e in seen.spans if c == g.stop_reason]
    last_start = min(s for c, s, e in seen.spans if c == g.stop_reason and e == max(ends))
    assert g.released_chars <= last_start, text


# -- 1. a line break between the words of a blocked phrase --------------------------------------

NEWLINE_ATTACKS = [
    "you should kill\nyourself now",
    "how to make a\npipe bomb",
    "child\nporn",
    "i will\nkill you",
    "I want\nto die",
    "you should kill\r\nyourself now",
    "how to make a\r\n\r\npipe bomb",
]


@pytest.mark.parametrize("text", NEWLINE_ATTACKS)
def test_newline_inside_a_blocked_phrase_is_stopped_in_every_chunking(rules, text):
    assert rules.check(text).action == "drop"
    first, last = text.split("\n")[0].split()[-1], text.split("\n")[-1].split()[0]
    for pieces in _chunkings(text):
        g, out = _stream(rules, pieces)
        assert g.stopped and g.verdict.action == "drop", pieces
        assert first not in out and last not in out, pieces
        _assert_like_check(rules, text, g, out)


@pytest.mark.parametrize(
    "text",
    ["ok h o w to make a pipe bomb now", "ok h.o.w to make a\npipe bomb", "ok k i l l\nyourself now"],
)
def test_spaced_letters_beginning_a_multiword_term_are_held(rules, text):
    """The term view collapses "h o w" into one word: the beginning of a term spans several tokens."""
    start = min(s for _, s, _ in rules.check(text).spans)
    for pieces in _chunkings(text):
        g, out = _stream(rules, pieces)
        assert g.stopped and g.released_chars <= start, pieces
        _assert_like_check(rules, text, g, out)


# -- 2. a long whitespace-free run after a span: decided at the bound, never released raw ---------


def test_blocked_phrase_before_a_long_run_is_never_released(rules):
    text = "you should kill yourself" + "!" * 2100 + " ok"
    g, out = _stream(rules, [text[i : i + 16] for i in range(0, len(text), 16)])
    assert g.stopped and g.verdict.action == "drop" and rules.check(text).action == "drop"
    assert "kill" not in out and "yourself" not in out and "!" not in out


def test_phone_before_a_long_run_is_redacted_not_released_raw(rules):
    text = "Call 415 555 0199" + "-" * 2100 + " ok"
    g = StreamGuard(rules)
    outs = []
    for i in range(0, len(text), 16):
        outs.append(g.feed(text[i : i + 16]))
        assert g.held <= g.max_holdback + 16
    outs.append(g.close())
    assert not any(c.isdigit() for o in outs for c in o)
    assert "".join(outs) == rules.check(text).text
    assert g.undecided_releases > 0 and not g.stopped


def test_term_beginning_before_a_long_blank_run_stops_at_the_bound(rules):
    text = "you should kill" + " " * 3000 + "yourself"
    g, out = _stream(rules, [text[i : i + 16] for i in range(0, len(text), 16)])
    assert g.stopped and g.stop_reason.endswith("(holdback)") and g.verdict.action == "drop"
    assert "kill" not in out


def test_harmless_long_run_is_released_within_the_bound(rules):
    text = "hello " + "a" * 5000 + " bye"
    g = StreamGuard(rules)
    outs = []
    for i in range(0, len(text), 16):
        outs.append(g.feed(text[i : i + 16]))
        assert g.held <= g.max_holdback + 16
    outs.append(g.close())
    assert not g.stopped and "".join(outs) == text
    assert len("".join(outs[:-1])) >= len(text) - g.max_holdback  # released while streaming


# -- 3. rules that read ahead or behind ----------------------------------------------------------

LOOKAHEAD_TEXTS = [
    "17151 2450 Crown St",
    "415 555 0199 Crown Street",
    "415 555 0199 Crown Station now",
    "415 555 0199 Crown",
    "Send it to 03262 2437 Main Street South.",
    "zip\n415 555 0199",
    "postal code\r\n415 555 0199 please",
    "Call 415 555 0199 today",
    "a chink in the armour",
    "a chink in the sky",
    "porn porn pussy and a cat",
]


@pytest.mark.parametrize("text", LOOKAHEAD_TEXTS)
def test_rules_that_read_ahead_stream_exactly_in_every_chunking(rules, text):
    for pieces in _chunkings(text):
        g, out = _stream(rules, pieces)
        _assert_like_check(rules, text, g, out)


FILLER = " ".join(["the quiet garden behind the house was lovely"] * 12)  # ~550 chars, plain words


@pytest.mark.parametrize(
    "text",
    [
        "porn porn pussy " + FILLER[:300] + " and the cat slept",  # sense word after the hit
        "the cat slept " + FILLER[:300] + " porn porn pussy",  # sense word before, behind a checkpoint
        FILLER + " postal code\n415 555 0199 " + FILLER,  # a label across a line break, far into a line
        FILLER + " 415 555 0199 Crown Street " + FILLER,
    ],
)
def test_context_rules_across_checkpoints(rules, text):
    for size in (1, 3, 7, 16, 64):
        g, out = _stream(rules, [text[i : i + size] for i in range(0, len(text), size)])
        _assert_like_check(rules, text, g, out)
        assert not g.stopped


@pytest.mark.parametrize("tail, blocked", [(" catalog", True), (" cat is", False)])
def test_a_word_cut_by_the_sense_window_streams_like_check(rules, tail, blocked):
    """ "cat" of "catalog" ending at the sense window's edge is no sense word, so "pussy" counts and the
    text is blocked; a whole "cat" there cancels it. The stream waits for the character after the edge."""
    text = "porn porn pussy a " + FILLER[:493] + tail  # the tail's "cat" ends 500 characters after "pussy"
    for size in (1, 3, 7, 16, 64):
        g, out = _stream(rules, [text[i : i + size] for i in range(0, len(text), size)])
        _assert_like_check(rules, text, g, out)
        assert g.stopped == blocked


# -- the property: every rule, every chunking, several seeds ------------------------------------

# "|" is replaced by a drawn separator (line breaks included), so attacks straddle it.
FRAGMENTS = [
    "you should kill|yourself now", "how to make a|pipe bomb", "h o w to make a|pipe bomb", "k i l l|yourself", "child|porn", "i will|kill you",
    "I want|to die", "17151 2450|Crown St", "415 555 0199|Crown Street", "415 555 0199|Crown Station",
    "zip|415 555 0199", "zip:|415 555 0199", "postal code|415 555 0199", "licence number|415-555-0199",
    "Call me at|+1 (415) 555-0199|Oak Dr", "415-555-0199|Main St", "zip:|+1 415 555 0199",
    "chink|in the armour", "chink|in the sky", "cock|crow", "pussy|willow", "pussy", "cat", "tit", "blue|tit",
    "porn", "f u c k", "sh1t", "bob.smith@example.com", "4111 1111 1111 1111", "SSN|123-45-6789",
    "GB82 WEST 1234 5698 7654 32", "password =|Xk9fj2LmQ8zR4tPw", "Hello there", "Station", "Elm",
    "the weather is lovely today", "the quiet garden behind the house was lovely and green",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "\n", "\r\n", "  ", "\n\n", ", ", ". ", " \t"]


def _property(filt: Filter, seed_value: int, examples: int) -> None:
    @seed(seed_value)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        parts=st.lists(
            st.tuples(st.sampled_from(FRAGMENTS), st.sampled_from(SEPARATORS), st.sampled_from(SEPARATORS)),
            min_size=1,
            max_size=60,
        ),
        cuts=st.lists(st.integers(0, 5000), max_size=40),
        scan_every=st.sampled_from([0, 0, 16]),
    )
    def streamed_equals_check(parts, cuts, scan_every):
        text = "".join(fragment.replace("|", inner) + after for fragment, inner, after in parts)
        g, out = _stream(filt, _split(text, cuts), scan_every=scan_every)
        _assert_like_check(filt, text, g, out)

    streamed_equals_check()


@pytest.mark.parametrize("seed_value", [12, 2026, 424242])
def test_property_every_rule_every_chunking(rules, seed_value):
    _property(rules, seed_value, examples=200)
