"""Phone redaction is not dodged by the words around a number (issue 12): the house-number and
labelled-code exceptions apply only to bare digit groups, never to a number with a country code or a
phone's punctuation."""

from __future__ import annotations

from pathlib import Path

import pytest

from filters import Filter
from filters.pii import find_pii
from tests.policy_data import rules_only_policy

POLICY = Path(__file__).resolve().parents[1] / "configs" / "policy.yaml"


@pytest.fixture(scope="module")
def rules() -> Filter:
    return Filter(rules_only_policy(), mode="runtime")


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("Call me at +1 (415) 555-0199 Oak Dr", "+1 (415) 555-0199"),
        ("Call me at 415-555-0199 Main St", "415-555-0199"),
        ("Call me at (415) 555 0199 Crown Street", "(415) 555 0199"),
        ("zip: +1 415 555 0199", "+1 415 555 0199"),
        ("licence number 415-555-0199", "415-555-0199"),
        ("postal code 415.555.0199", "415.555.0199"),
        ("passport no. +44 20 7946 0958", "+44 20 7946 0958"),
        ("1-415-555-0199 Elm Road", "1-415-555-0199"),
    ],
)
def test_marked_numbers_are_phones_whatever_surrounds_them(rules, text, number):
    assert [(m.type, text[m.start : m.end]) for m in find_pii(text)] == [("PHONE", number)]
    v = rules.check(text)
    assert v.action == "redact" and v.text == text.replace(number, "<PHONE>")


@pytest.mark.parametrize(
    "text",
    [
        "The restaurant is at 17151 2450 Crown St, downtown.",
        "Please send it to 03262 2437 Main Street South.",
        "My zip code is 90010-170",
        "ZIP: 75534-030",
        "my driver's license number is 2270-66-1551",
        "zip\n415 555 0199",
        "415 555 0199 Crown Street",
    ],
)
def test_bare_digit_groups_keep_the_context_exceptions(rules, text):
    assert find_pii(text) == []
    assert rules.check(text).action == "allow"
