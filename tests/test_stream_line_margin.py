"""The stream guard's line rule with a margin: a complete line stops an answer only `line_margin` log-odds above its
category's threshold (and at `line_min_score` or more). Judged alone, short lines of clean prose and news score high,
so with the old floor alone the server stopped 8% of clean ~4 KB prose answers that check() allows (BENCHMARKS.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from filters import Filter, Policy
from filters.line_bar import line_bar
from filters.stream import StreamGuard
from server.config import ServeConfig

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "tests" / "fixtures" / "harm" / "clean_page.txt").read_text(encoding="utf-8")
# Written for this test: a dehumanizing line that check() of the whole page does not block (its window is mostly
# the page) but that scores high on its own.
LINE = "Those people are animals and should all be driven out of our country for good."


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
    assert line_bar(0.961, 0.9, 0.0) == 0.961  # the 0.9 floor raises nothing for a threshold above it
    assert line_bar(0.25, 0.9, 0.0) == 0.9
    assert _logit(line_bar(0.961, 0.9, 2.0)) == pytest.approx(_logit(0.961) + 2.0)
    assert line_bar(0.25, 0.9, 2.0) == 0.9  # 0.25 raised by 2 log-odds is ~0.71, under the floor
    assert line_bar(0.5, 0.0, 0.0) == 0.5


@pytest.mark.parametrize("threshold", [0.01, 0.25, 0.471, 0.66, 0.9, 0.961, 0.999])
@pytest.mark.parametrize("min_score", [0.0, 0.5, 0.9, 0.95])
def test_margin_zero_is_the_former_rule_exactly(threshold: float, min_score: float) -> None:
    """The former rule stopped at max(threshold, line_min_score); the default margin must not move that bar at all."""
    assert line_bar(threshold, min_score, 0.0) == max(threshold, min_score)
    assert line_bar(threshold, min_score, 0.5) > threshold


def test_a_line_stops_the_answer_only_as_far_above_its_threshold_as_the_margin(runtime: Filter) -> None:
    cut = PAGE.find("\n\n", len(PAGE) // 2)
    answer = PAGE[:cut] + "\n\n" + LINE + "\n\n" + PAGE[cut:].lstrip("\n")
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


def test_a_margin_per_category_raises_only_the_bars_it_names(runtime: Filter) -> None:
    """A mapping gives each named category its own margin and every other category none: the line stops the answer
    through the one category whose bar it still clears."""
    cut = PAGE.find("\n\n", len(PAGE) // 2)
    answer = PAGE[:cut] + "\n\n" + LINE + "\n\n" + PAGE[cut:].lstrip("\n")
    harm = runtime.detectors["harm"]
    scores = harm.detect_batch([LINE + "\n\n"])[0].scores
    leads = {
        c: _logit(min(scores[c], 1 - 1e-12)) - _logit(max(harm.model.thresholds[c], 0.9))
        for c in runtime.categories
        if c in scores and scores[c] >= max(harm.model.thresholds[c], 0.9)
    }
    assert leads, "the line must clear some category's bar on its own"
    above_all = {
        c: _logit(min(scores[c], 1 - 1e-12)) - _logit(harm.model.thresholds[c]) + 0.25 for c in leads
    }
    assert not _serve(runtime, answer, line_margin=above_all).stopped
    first = next(
        c for c in runtime.categories if c in leads
    )  # the guard reports the first in canonical order
    spared = {c: m for c, m in above_all.items() if c != first}
    guard = _serve(runtime, answer, line_margin=spared)
    assert guard.stopped and guard.stop_reason == f"{first} (line)"


def test_a_bad_margin_mapping_is_refused(runtime: Filter) -> None:
    from server.app import create_app
    from server.config import ServeConfigError

    for bad in ({"violence": -1.0}, {"violence": 21.0}, {"violence": True}, {"violence": "1"}):
        with pytest.raises(ValueError, match="line_margin of 'violence' must be in"):
            StreamGuard(runtime, line_margin=bad)
    with pytest.raises(ValueError, match="line_margin names 'violense', not a category"):
        StreamGuard(runtime, line_margin={"violense": 1.0})
    with pytest.raises(ValidationError, match="line_margin of 'violence' must be in"):
        ServeConfig(backend="upstream", upstream_url="http://x/v1", line_margin={"violence": -0.5})
    typo = ServeConfig(backend="upstream", upstream_url="http://x/v1", line_margin={"violense": 1.0})
    with pytest.raises(ServeConfigError, match="line_margin: 'violense' is not a category of the policy"):
        create_app(typo, filter=runtime)
    # A default mapping is cut to the policy's categories, never refused: a policy without violence still serves.
    default = ServeConfig(backend="upstream", upstream_url="http://x/v1")
    default.line_margin = {"violence": 1.0}
    assert default.line_margin_for(["hate", "violence"]) == {"violence": 1.0}
    assert default.line_margin_for(["hate"]) == {}
    assert (
        ServeConfig(backend="upstream", upstream_url="http://x/v1", line_margin=2.0).line_margin_for(["hate"])
        == 2.0
    )
