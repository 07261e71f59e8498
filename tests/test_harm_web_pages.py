"""The project's own benign web pages (data/harm_web_negatives): well-formed, varied, free of slurs, and
reported per genre by the evaluation.

The pages are the evaluation's probe of over-blocking on ordinary commercial, blog and how-to pages
(`benchmarks.eval_harm`, `project_web_pages`), so a broken line, a duplicated page or a missing genre would
silently change what it measures. No model is loaded."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.project_data import DENY, OneCategoryJudge, read_rows

KEYS = {"id", "genre", "text"}
GENRES = (
    "small_business_marketing",
    "productivity_self_improvement",
    "personal_finance",
    "home_improvement_contractors",
    "cooking",
    "travel",
    "fitness_everyday_wellness",
    "parenting_schooling",
    "technology_howto_reviews",
    "real_estate",
    "gardening",
    "pets",
    "cars",
    "weddings_events",
    "local_community_notices",
    "careers_job_search",
)
PER_GENRE = 10
MIN_CHARS, MAX_CHARS = 1_200, 2_500
PROJECT_WEB_PAGES = Path(__file__).resolve().parents[1] / "data" / "harm_web_negatives" / "pages.jsonl"


@pytest.fixture(scope="module")
def pages() -> list[dict[str, str]]:
    """Every page; a missing file fails here rather than skipping."""
    return read_rows(PROJECT_WEB_PAGES, KEYS)


def test_ids_unique_and_in_order(pages: list[dict[str, str]]) -> None:
    expected = [f"wp-{part}-{i:03d}" for part in "ab" for i in range(1, 81)]
    assert [p["id"] for p in pages] == expected


def test_ten_pages_in_every_genre(pages: list[dict[str, str]]) -> None:
    assert Counter(p["genre"] for p in pages) == {g: PER_GENRE for g in GENRES}


def test_lengths_in_range(pages: list[dict[str, str]]) -> None:
    bad = [p["id"] for p in pages if not MIN_CHARS <= len(p["text"]) <= MAX_CHARS]
    assert not bad, f"pages outside {MIN_CHARS}-{MAX_CHARS} characters: {bad}"


def _sentences(text: str) -> set[str]:
    return {
        s for s in (re.sub(r"\s+", " ", x).strip().lower() for x in re.split(r"[.!?\n]", text)) if len(s) > 60
    }


def test_no_long_sentence_in_two_pages(pages: list[dict[str, str]]) -> None:
    """Written one by one: a template would repeat its sentences across pages."""
    counts = Counter(s for p in pages for s in _sentences(p["text"]))
    repeated = [s for s, c in counts.items() if c > 1]
    assert not repeated, f"sentences in more than one page: {repeated[:3]}"


def test_no_denied_words(pages: list[dict[str, str]]) -> None:
    hits = [p["id"] for p in pages if DENY & set(re.findall(r"[a-z]+", p["text"].lower()))]
    assert not hits, f"pages with a denied word: {hits}"


def test_the_evaluation_reports_them_per_genre(pages: list[dict[str, str]]) -> None:
    """`benchmarks.eval_harm` counts a page as fired when any harm category fires on it, per genre."""
    from benchmarks.eval_harm import WEB_PAGES, _fired_share, _read_jsonl, project_web_pages

    fires_on_gardens = OneCategoryJudge("violence", lambda t: "garden" in t.lower())
    assert WEB_PAGES == PROJECT_WEB_PAGES and _read_jsonl(WEB_PAGES) == pages
    out = _fired_share(fires_on_gardens, pages, "genre")
    expected = sum("garden" in p["text"].lower() for p in pages) / len(pages)
    assert out["n"] == 160 and out["any_fpr"] == round(expected, 4) == out["per_category"]["violence"]
    assert set(out["per_genre"]) == set(GENRES) and out["per_category"]["hate"] == 0.0
    gardening = [p for p in pages if p["genre"] == "gardening"]
    assert out["per_genre"]["gardening"] == round(
        sum("garden" in p["text"].lower() for p in gardening) / 10, 4
    )
    # the evaluation's entry point reads this file and counts by genre
    assert project_web_pages(fires_on_gardens) == out
