"""StreamGuard on adversarial model output: the work per chunk does not grow with the stream.

A reply full of phone numbers, an unterminated private key or a long blank run once made every chunk
copy or rescan everything before it (quadratic). These tests count work, not time."""

from __future__ import annotations

from pathlib import Path

import pytest

from filters import Filter, StreamGuard
from tests.policy_data import rules_only_policy

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runtime() -> Filter:
    """The shipped runtime policy's rules: what scales (or must not) here is the rule scanning."""
    return Filter(rules_only_policy(), mode="runtime")


def _phones(n: int) -> str:
    return "".join(f"call 415-555-{2000 + i:04d} " for i in range(n))


def _open_pem(size: int) -> str:
    body = ("MIIEowIBAAKCAQEA7bq9" * 4 + "\n") * (size // 81 + 1)
    return ("-----BEGIN RSA PRIVATE KEY-----\n" + body)[:size]


class _CountingPII:
    """Wraps the PII detector and counts the characters it is asked to scan."""

    def __init__(self, inner):
        self.inner, self.name, self.chars = inner, inner.name, 0

    def detect_batch(self, texts, **kw):
        self.chars += sum(len(t) for t in texts)
        return self.inner.detect_batch(texts, **kw)


def _largest_view(filt: Filter, text: str) -> tuple[int, StreamGuard]:
    """The most spans one chunk's scan held of its own (not shared with the closed results)."""
    g = StreamGuard(filt)
    largest = 0
    for i in range(0, len(text), 4):
        g.feed(text[i : i + 4])
        if g._open_cache is not None:
            view = g._open_cache[-1]
            largest = max(largest, len(view.term_spans) + len(view.pii_spans))
    g.close()
    return largest, g


def test_phone_spans_are_not_copied_on_every_chunk(runtime):
    short, _ = _largest_view(runtime, _phones(100))
    long, g = _largest_view(runtime, _phones(400))
    assert len(g._acc.pii_spans) == 400  # every phone found, in the shared closed results
    assert long <= short + 2, (short, long)
    assert g.verdict is not None and g.verdict.action == "redact"


@pytest.mark.parametrize("make", [_open_pem, lambda n: " " * n, lambda n: "a " * (n // 2)])
def test_characters_scanned_per_character_do_not_grow(runtime, make):
    per_char = []
    for n in (4_000, 16_000):
        dets = dict(runtime.detectors)
        dets["pii"] = _CountingPII(dets["pii"])
        g = StreamGuard(Filter(runtime.policy, "runtime", detectors=dets))
        text = make(n)
        for i in range(0, len(text), 4):
            g.feed(text[i : i + 4])
        g.close()
        per_char.append(dets["pii"].chars / len(text))
    assert per_char[1] < per_char[0] * 1.3, per_char  # quadratic would be 4x


def test_blocked_phrase_inside_an_open_pem_block_stops_when_it_ends(runtime):
    """An open PEM block is scanned once, when its END marker arrives: a blocked phrase inside it still
    stops the answer then, and no character of the block was released before."""
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nyou should kill yourself now\n"
    text = "Here it is:\n" + block + "-----END RSA PRIVATE KEY-----\nthanks\n"
    g = StreamGuard(runtime)
    out = "".join(g.feed(text[i : i + 4]) for i in range(0, len(text), 4)) + g.close()
    assert g.stopped and g.stop_reason == runtime.check(text).reason
    assert "BEGIN" not in out and "kill" not in out
    assert g.stop_at == text.index("yourself") + len(
        "yourself"
    )  # the first blocking hit, not the block's end
    assert g.verdict == runtime.check(text[: g.stop_at])
