"""Checks shared by the stream guard's tests."""

from __future__ import annotations

from filters import Filter, StreamGuard, Verdict


def assert_found_first(filt: Filter, g: StreamGuard, seen: Verdict) -> None:
    """For a rules-only `filt` (no classifier): a rule stop was found at the end of the first hit, of a category
    whose action drops, at which check() of the text up to there blocks, after the released text, and the verdict
    is that check() (`seen`: check() of all the text the guard saw). The guard reads the hits before a stop with
    all the text seen as context, check() of a prefix without it: the two agree on texts without a hit whose
    innocent-sense word comes after a later hit (the corpora here; `test_a_hit_cancelled_by_a_later_sense_word...`
    covers one that has)."""
    assert g.verdict == filt.check(g.text[: g.stop_at])
    assert g.verdict.action == "drop" and g.stop_reason in g.verdict.fired
    assert g.stop_at > g.released_chars  # never inside text already released
    assert g.stop_at in {e for _, _, e in seen.spans}
    earlier = {e for c, _, e in seen.spans if e < g.stop_at and filt.categories[c].action == "drop"}
    assert all(filt.check(g.text[:e]).action != "drop" for e in earlier)


def fed_in_pieces(filt: Filter, text: str, piece: int) -> StreamGuard:
    """A guard fed `text` in pieces of `piece` characters, as a server under load feeds it, until it stops."""
    guard = StreamGuard(filt)
    for i in range(0, len(text), piece):
        guard.feed(text[i : i + piece])
        if guard.stopped:
            break
    return guard
