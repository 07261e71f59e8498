"""StreamGuard: same verdict as Filter.check on any chunking, strict release, bounded and linear work."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filters import Filter, Policy
from filters.stream import StreamGuard
from tests.policy_data import rules_only_policy
from tests.stream_checks import assert_found_first, fed_in_pieces

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "configs" / "policy.yaml"


@pytest.fixture(scope="module")
def full() -> Filter:
    return Filter(Policy.load(POLICY), mode="runtime")


@pytest.fixture(scope="module")
def rules() -> Filter:
    return Filter(rules_only_policy(), mode="runtime")  # verdicts from the span detectors


SYNTH = [
    "Call me at +1 415 555 0132 or write to bob.smith@example.com, thanks.\n",
    "You are worthless. Honestly you should kill yourself tonight.\nMore text after it.",
    "my key is AKIAIOSFODNN7EXAMPLE and card 4111 1111 1111 1111 ok",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGcY5unA67hqxnfZKHXzZPq\n"
    "-----END RSA PRIVATE KEY-----\nthat was the key\n",
    "IBAN GB82 WEST 1234 5698 7654 32 is mine; SSN 123-45-6789.\n",
    "f u c k this, and sh1t happens, k1ll y0urself\n",
    # a term that is also a name (Title case mid-sentence or before another name) and one that is not
    "Then Dick went home.\nYou are such a dick, said Dick Cheney;   Dick. Dick?\n",
    # other languages' list words ("bite" French, "stake" Swedish): the final check knows the language
    "The dog took a bite, then another bite, and we drove a stake into the ground by the tent.\n",
]


@pytest.fixture(scope="module")
def corpus(shared_data) -> list[str]:
    """Real texts: PII samples, labeled tweets (offensive and not), Shakespeare, plus split-prone cases."""
    pii = json.loads((shared_data / "pii" / "presidio_synth_dataset_v2.json").read_text(encoding="utf-8"))
    with open(shared_data / "toxicity" / "davidson_labeled_data.csv", encoding="utf-8") as f:
        tweets = [r["tweet"] for r in csv.DictReader(f)]
    shakespeare = (shared_data / "clean_text" / "tinyshakespeare_input.txt").read_text(encoding="utf-8")
    paras = [p + "\n" for p in shakespeare[:40_000].split("\n\n")]
    return [d["full_text"] for d in pii[:120]] + tweets[:120] + paras[:60] + SYNTH


def _run(guard: StreamGuard, text: str, cuts: list[int]) -> str:
    bounds = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    out = [guard.feed(text[a:b]) for a, b in itertools.pairwise(bounds)]
    out.append(guard.close())
    return "".join(out)


def _assert_strict_stop(filt: Filter, g: StreamGuard) -> None:
    """A rule stop: found at the first scanned hit at which check() of the text up to there blocks (a later
    innocent-sense word can still cancel a hit, so a blocked prefix need not stay blocked), the verdict is that
    check(), and no character of the span of the stopping category that completed the block in all the text seen
    was released. A block found only at close() (no `stop_at`) is the final verdict: check() of the whole text."""
    seen = filt.check(g.text)
    if g.stop_at is None:
        assert g.verdict == seen
    else:
        assert_found_first(filt, g, seen)
    ends = [e for c, _, e in seen.spans if c == g.stop_reason]
    last_start = min(s for c, s, e in seen.spans if c == g.stop_reason and e == max(ends))
    assert g.released_chars <= last_start  # strict: zero violating characters


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_rules_exact(rules, corpus, data):
    """Rules-only policy: any chunking gives exactly check()'s verdict and redacted text, and releases
    nothing of the span that made the text blocked."""
    text = data.draw(st.sampled_from(corpus))
    cuts = data.draw(st.lists(st.integers(0, max(len(text), 1)), max_size=40))
    g = StreamGuard(rules, scan_every=data.draw(st.sampled_from([0, 0, 8, 32])))
    out = _run(g, text, cuts)
    want = rules.check(text)
    if not g.stopped:
        assert g.verdict == want
        assert out == want.text
    else:
        assert want.action == "drop" and g.verdict.action == "drop"
        assert g.stop_reason in want.fired  # decided on stable text
        _assert_strict_stop(rules, g)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_full_policy(full, corpus, data):
    """Shipped policy (with the toxicity classifier). Run to the end: verdict == check(text). Stopped:
    blocked by check() as well, or by a line the classifier scores >= line_min_score on its own; and judged on
    the text up to where the stop was found."""
    text = data.draw(st.sampled_from(corpus))
    cuts = data.draw(st.lists(st.integers(0, max(len(text), 1)), max_size=30))
    lines = data.draw(st.booleans())
    g = StreamGuard(full, classify_lines=lines, scan_every=data.draw(st.sampled_from([0, 0, 8, 32])))
    out = _run(g, text, cuts)
    want = full.check(text)
    if not g.stopped:
        assert g.verdict == want
        assert out == want.text
    elif g.stop_reason.endswith("(line)"):
        assert lines and g.verdict.action == "drop"
    else:
        assert want.action == "drop" and g.stop_reason in want.fired
    if g.stopped and g.stop_at is not None:  # judged on the text up to where the stop was found
        upto = full.check(g.text[: g.stop_at])
        assert g.verdict.text == upto.text and set(upto.fired) <= set(g.verdict.fired)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_long_lines_checkpoint_exact(rules, corpus, data):
    """Long lines (several corpus texts joined without newlines) move the open-segment checkpoint. The
    guard must give check()'s verdict and text, and release exactly what a guard that rescans the whole
    open line on every chunk (checkpoint off) releases, chunk by chunk."""
    parts = data.draw(st.lists(st.sampled_from(corpus), min_size=3, max_size=8))
    text = " ".join(p.replace("\n", " ") for p in parts)
    step = data.draw(st.integers(1, 12))
    fast, slow = StreamGuard(rules), StreamGuard(rules)
    slow._ck_every = 10**9  # never checkpoint: the reference
    out_fast, out_slow = [], []
    for i in range(0, len(text), step):
        out_fast.append(fast.feed(text[i : i + step]))
        out_slow.append(slow.feed(text[i : i + step]))
        assert out_fast[-1] == out_slow[-1] and fast.stopped == slow.stopped
    out_fast.append(fast.close())
    out_slow.append(slow.close())
    assert out_fast == out_slow and fast.verdict == slow.verdict
    want = rules.check(text)
    if not fast.stopped:
        assert fast.verdict == want and "".join(out_fast) == want.text


@pytest.mark.parametrize("scan_every", [8, 32, 100])
def test_scan_every_scans_less_and_releases_the_same(full, corpus, scan_every):
    """Fed one character at a time, a guard with scan_every scans once per scan_every characters, not
    per character, and releases the same text with the same verdict as a guard that scans every chunk."""
    for text in corpus[::9]:
        every, batched = StreamGuard(full), StreamGuard(full, scan_every=scan_every)
        out_every = "".join(every.feed(c) for c in text) + every.close()
        out_batched = "".join(batched.feed(c) for c in text) + batched.close()
        assert len(batched._chunks) <= len(text) // scan_every + 1
        assert batched.stopped == every.stopped and batched.verdict.action == every.verdict.action
        if not every.stopped:
            assert out_batched == out_every and batched.verdict == every.verdict
        else:
            assert batched.stop_reason == every.stop_reason


def test_scan_every_holds_short_text_until_close(rules):
    g = StreamGuard(rules, scan_every=64)
    assert g.feed("Hello there, ") == "" and g.feed("how are you?") == ""
    assert g.text == ""  # nothing scanned yet
    assert g.close() == "Hello there, how are you?" and g.verdict.action == "allow"
    stopped = StreamGuard(rules, scan_every=64)
    assert stopped.feed("you should kill yourself now") == ""
    assert stopped.close() == "" and stopped.stopped and stopped.verdict.action == "drop"


def test_term_split_across_chunks_is_stopped(rules):
    g = StreamGuard(rules)
    released = "".join(g.feed(c) for c in ["Honestly you should ki", "ll your", "self now, ", "ok?"])
    released += g.close()
    assert g.stopped and g.verdict.action == "drop" and g.verdict.reason == "harassment"
    # "you should" is held too: it begins the listed term "you should die".
    assert "kill" not in released and released == "Honestly "
    assert g.feed("more") == "" and g.close() == ""


def test_phone_split_across_chunks_is_redacted(rules):
    g = StreamGuard(rules)
    pieces = ["Call +1 4", "15 55", "5 01", "32 later.", "\nBye"]
    outs = [g.feed(p) for p in pieces]
    outs.append(g.close())
    assert not any(ch.isdigit() for o in outs for ch in o)  # no digit of the number ever released
    assert "".join(outs) == "Call <PHONE> later.\nBye"
    assert g.verdict.action == "redact"


def test_private_key_held_until_complete(rules):
    key = SYNTH[3]
    g = StreamGuard(rules)
    outs = [g.feed(key[i : i + 5]) for i in range(0, len(key), 5)]
    outs.append(g.close())
    assert "MIIE" not in "".join(outs)
    assert "".join(outs) == "<SECRET>\nthat was the key\n"


def test_exact_reassembly_no_inserted_spaces(rules, shared_data):
    # The rules policy: the harm classifier stops this story at runtime on one line ("a little girl
    # ... found a needle ... sharp" scores violence 0.998, a known false positive in
    # HARM_MODEL_CARD.md); reassembly is what is tested here.
    text = (shared_data / "clean_text" / "tinystories_head.txt").read_text(encoding="utf-8")[:3000]
    g = StreamGuard(rules)
    out = _run(g, text, list(range(0, len(text), 3)))
    want = rules.check(text)
    assert not g.stopped and out == want.text == text


def test_holdback_bounded_without_newlines(rules, shared_data):
    words = (shared_data / "clean_text" / "wikitext2_valid.txt").read_text(encoding="utf-8").split()
    text = " ".join(words[:6000])  # ~35 kB, no newline at all
    g = StreamGuard(rules, max_holdback=512)
    out = []
    for i in range(0, len(text), 4):
        out.append(g.feed(text[i : i + 4]))
        assert g.held <= 512 + 4
    out.append(g.close())
    assert "".join(out) == rules.check(text).text
    assert g.checkpoints > 20  # a long line is scanned from a moving checkpoint, not from its start


class _Counting:
    """Wraps a span detector and counts the characters it is asked to scan."""

    def __init__(self, inner):
        self.inner, self.name, self.chars = inner, inner.name, 0

    def detect_batch(self, texts, **kw):
        self.chars += sum(len(t) for t in texts)
        return self.inner.detect_batch(texts, **kw)

    def __getattr__(self, k):
        return getattr(self.inner, k)


def test_scanning_is_linear(rules, shared_data):
    text = (shared_data / "clean_text" / "tinystories_head.txt").read_text(encoding="utf-8")
    scanned = []
    for n in (10_000, 40_000):
        dets = dict(rules.detectors)
        dets["terms"] = _Counting(dets["terms"])
        f = Filter(rules.policy, "runtime", detectors=dets)
        g = StreamGuard(f)
        t = text[:n]
        for i in range(0, n, 4):  # ~one token per chunk
            g.feed(t[i : i + 4])
        g.close()
        scanned.append(dets["terms"].chars / n)
    # Characters scanned per character of stream do not grow with the stream (quadratic would be 4x).
    assert scanned[1] < scanned[0] * 1.3, scanned


class _Broken:
    name = "toxicity"

    def detect_batch(self, texts):
        raise RuntimeError("classifier unavailable")


@pytest.mark.parametrize("fail_closed", [True, False])
def test_detector_error(full, fail_closed):
    dets = dict(full.detectors)
    dets["harm"] = _Broken()
    f = Filter(full.policy, "runtime", detectors=dets)
    text = "A calm line.\nWrite to bob.smith@example.com please.\n"
    g = StreamGuard(f, fail_closed=fail_closed)
    out = _run(g, text, list(range(0, len(text), 6)))
    if fail_closed:
        assert g.stopped and "detector_error" in g.verdict.fired and "bob" not in out
    else:
        assert not g.stopped and out == "A calm line.\nWrite to <EMAIL> please.\n"
        assert g.verdict.action == "redact"


def test_empty_stream(full):
    g = StreamGuard(full)
    assert g.close() == "" and g.verdict.action == full.check("").action


@pytest.mark.parametrize(("text", "action"), zip(SYNTH[-2:], ("flag", "allow"), strict=True))
def test_name_and_other_language_terms_exact_at_every_cut(rules, text, action):
    """A name-sense hit ("Dick" mid-sentence) depends on the text around it, and another language's
    list depends on the whole text's language: cut anywhere, the stream still ends at check(text)."""
    want = rules.check(text)
    assert want.action == action  # "a dick" and a lone "Dick?" still count; "bite" in English does not
    for cut in range(len(text) + 1):
        for every in (0, 8):
            g = StreamGuard(rules, scan_every=every)
            assert _run(g, text, [cut, cut + 3, cut + 11]) == want.text
            assert g.verdict == want, (cut, every)


def test_past_the_cap_of_hits_tried_the_stop_is_judged_on_all_the_text_seen(rules, monkeypatch):
    """The guard tries at most `_MAX_STOP_CHECKS` rule hits for where a stop was found; past them it still stops,
    judged on all the text seen (no `stop_at`)."""
    import filters.stream as stream

    text = "Honestly you should kill yourself tonight. More text after it follows here."
    monkeypatch.setattr(stream, "_MAX_STOP_CHECKS", 0)
    g = StreamGuard(rules)
    assert g.feed(text) == "" and g.stopped and g.stop_at is None
    assert g.verdict == rules.check(g.text) and g.stop_reason in g.verdict.fired
    monkeypatch.undo()
    g = StreamGuard(rules)
    assert g.feed(text) == "" and g.stopped
    assert g.stop_at == text.index("yourself") + len("yourself")


@pytest.mark.parametrize("piece", [8, 64, 10**6])
def test_a_hit_cancelled_by_a_later_sense_word_is_not_where_a_stop_is_found(rules, piece):
    """ "pussy" is cancelled by "cat" after it, so the sexual hits before the threat do not block; the stop is the
    threat's, at its end, never inside text already released (a scan of the text cut at each hit would see the
    first hit without "cat" and place a sexual stop there)."""
    clean = "The garden needs water and light every morning so the young plants grow strong and green. " * 8
    text = (
        "The pussy sat on the mat. I saw porn and porn. My cat purred.\n"
        + clean
        + "\nYou should kill yourself now.\n"
    )
    assert rules.check(text).fired == ["harassment"]
    g = fed_in_pieces(rules, text, piece)
    assert g.stopped and g.stop_reason == "harassment"
    assert g.stop_at == text.index("kill yourself") + len("kill yourself") > g.released_chars
    assert g.verdict.fired == ["harassment"]
