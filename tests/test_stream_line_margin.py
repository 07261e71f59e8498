"""The stream guard's line rule with a margin: a complete line stops an answer only `line_margin` log-odds above its
category's threshold (and at `line_min_score` or more). Judged alone, short lines of clean prose and news score high,
so with the old floor alone the server stopped 8% of clean ~4 KB prose answers that check() allows (BENCHMARKS.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from filters import Filter, Policy
from filters.stream import StreamGuard, _bar
from server.config import ServeConfig
from tests.stream_checks import fed_in_pieces

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "tests" / "fixtures" / "harm" / "clean_page.txt").read_text(encoding="utf-8")
# Written for this test: a dehumanizing line that check() of the whole page does not block (its window is mostly
# the page) but that scores high on its own.
LINE = "Those people are animals and should all be driven out of our country for good."


def _page_with_line() -> str:
    """The clean page with LINE as its own paragraph at the first paragraph break past its middle."""
    cut = PAGE.find("\n\n", len(PAGE) // 2)
    return PAGE[:cut] + "\n\n" + LINE + "\n\n" + PAGE[cut:].lstrip("\n")


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _serve(f: Filter, text: str, **kw) -> StreamGuard:
    guard = StreamGuard(f, **kw)
    for i in range(0, len(text), 16):
        guard.feed(text[i : i + 16])
        if guard.stopped:
            return guard
    guard.close()
    return guard


@pytest.fixture(scope="module")
def runtime() -> Filter:
    return Filter(Policy.load(ROOT / "configs" / "policy.yaml"), mode="runtime")


def test_the_bar_is_the_threshold_raised_in_log_odds_and_never_below_the_floor() -> None:
    assert _bar(0.961, 0.9, 0.0) == 0.961  # the 0.9 floor raises nothing for a threshold above it
    assert _bar(0.25, 0.9, 0.0) == 0.9
    assert _logit(_bar(0.961, 0.9, 2.0)) == pytest.approx(_logit(0.961) + 2.0)
    assert _bar(0.25, 0.9, 2.0) == 0.9  # 0.25 raised by 2 log-odds is ~0.71, under the floor
    assert _bar(0.5, 0.0, 0.0) == 0.5


@pytest.mark.parametrize("threshold", [0.01, 0.25, 0.471, 0.66, 0.9, 0.961, 0.999])
@pytest.mark.parametrize("min_score", [0.0, 0.5, 0.9, 0.95])
def test_margin_zero_is_the_former_rule_exactly(threshold: float, min_score: float) -> None:
    """The former rule stopped at max(threshold, line_min_score); the default margin must not move that bar at all."""
    assert _bar(threshold, min_score, 0.0) == max(threshold, min_score)
    assert _bar(threshold, min_score, 0.5) > threshold


def test_a_line_stops_the_answer_only_as_far_above_its_threshold_as_the_margin(runtime: Filter) -> None:
    answer = _page_with_line()
    assert runtime.check(answer).action == "allow"
    harm = runtime.detectors["harm"]
    scores = harm.detect_batch([LINE + "\n\n"])[0].scores
    lead = max(
        _logit(min(scores[c], 1 - 1e-12)) - _logit(harm.model.thresholds[c])
        for c in ("violence", "hate", "harassment")
        if scores[c] >= harm.model.thresholds[c]
    )
    assert lead > 0.5
    below, above = (
        _serve(runtime, answer, line_margin=lead - 0.25),
        _serve(runtime, answer, line_margin=lead + 0.25),
    )
    assert below.stopped and below.stop_reason.endswith("(line)")
    assert not above.stopped and above.verdict.action == "allow"
    assert not _serve(runtime, PAGE, line_margin=0.0).stopped


def test_a_bad_margin_is_refused_by_the_guard_and_the_server_config() -> None:
    with pytest.raises(ValueError, match="line_margin"):
        StreamGuard(Filter(Policy.load(ROOT / "configs" / "policy.yaml"), mode="runtime"), line_margin=-1.0)
    with pytest.raises(ValidationError):
        ServeConfig(backend="upstream", upstream_url="http://x/v1", line_margin=-0.5)
    assert ServeConfig(backend="upstream", upstream_url="http://x/v1").line_margin == 0.0


@pytest.mark.parametrize("piece", [16, 200, 10**6])
def test_lines_that_arrive_together_are_judged_one_by_one(runtime: Filter, piece: int) -> None:
    """Under load the server feeds the guard every piece that has arrived at once; lines that complete in one piece
    are still judged each on its own, so the harmful line stops the answer however the answer was cut (judged as one
    run with the clean lines around it, its windows are mostly the page and it did not)."""
    answer = _page_with_line()
    assert runtime.check(answer).action == "allow"
    guard = fed_in_pieces(runtime, answer, piece)
    assert guard.stopped and guard.stop_reason == "violence (line)"


@pytest.mark.parametrize("order", ["line first", "hit first"])
def test_the_stop_found_first_in_the_text_decides_however_the_answer_arrived(
    runtime: Filter, order: str
) -> None:
    """A line the classifier stops and a rule's blocking hit in one answer: the one that comes first in the text
    stops it and its verdict is `check()` of the answer up to there, whether the answer arrives piece by piece or
    at once (before, a piece holding both stopped on the line whatever came first)."""
    threat = "Honestly, you should kill yourself if you think that."
    head, tail = PAGE[: PAGE.find("\n\n")], PAGE[PAGE.find("\n\n") :]
    parts = [head, LINE, threat] if order == "line first" else [head, threat, LINE]
    answer = "\n\n".join(parts) + tail
    if order == "line first":
        want_reason, upto = "violence (line)", answer.index(LINE) + len(LINE) + 1
    else:
        want_reason, upto = "harassment", answer.index("kill yourself") + len("kill yourself")
    outcomes = set()
    for piece in (16, 50, 200, len(answer)):
        guard = fed_in_pieces(runtime, answer, piece)
        assert guard.stopped and guard.stop_reason == want_reason, piece
        seen = runtime.check(answer[:upto])
        assert guard.verdict.text == seen.text and set(seen.fired) <= set(guard.verdict.fired)
        outcomes.add((guard.stop_reason, tuple(guard.verdict.fired)))
    assert len(outcomes) == 1
