"""Phone numbers of many countries (issue 15): libphonenumber (``phonenumbers``) is the reference.

The evaluation set tests/fixtures/phones/phones_eval.jsonl is generated from phonenumbers' example
numbers by tests/fixtures/phones/build.py (fixed seeds; which split is held out: see there). Every
split must meet the issue's goals; the rest checks each piece of filters/phones.py against the
library, the context rules, the cost bound and the stream guard.
"""

from __future__ import annotations

import itertools
import json
import pickle
import random
from pathlib import Path

import phonenumbers as pn
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import filters.phones as P
from filters import Filter, StreamGuard
from filters.pii import PIIDetector, find_pii
from tests.policy_data import rules_only_policy

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "phones" / "phones_eval.jsonl"

# (region, national format, international format): phonenumbers' example numbers, 40 countries.
COUNTRIES = [
    ("US", "(201) 555-0123", "+1 201-555-0123"),
    ("GB", "07400 123456", "+44 7400 123456"),
    ("DE", "030 123456", "+49 30 123456"),
    ("FR", "06 12 34 56 78", "+33 6 12 34 56 78"),
    ("ES", "810 12 34 56", "+34 810 12 34 56"),
    ("IT", "312 345 6789", "+39 312 345 6789"),
    ("NL", "010 123 4567", "+31 10 123 4567"),
    ("BE", "0450 00 12 34", "+32 450 00 12 34"),
    ("CH", "021 234 56 78", "+41 21 234 56 78"),
    ("AT", "0664 123456", "+43 664 123456"),
    ("PL", "12 345 67 89", "+48 12 345 67 89"),
    ("SE", "070-123 45 67", "+46 70 123 45 67"),
    ("NO", "21 23 45 67", "+47 21 23 45 67"),
    ("DK", "34 41 23 45", "+45 34 41 23 45"),
    ("FI", "013 1234567", "+358 13 1234567"),
    ("PT", "912 345 678", "+351 912 345 678"),
    ("IE", "(022) 12345", "+353 22 12345"),
    ("CZ", "601 123 456", "+420 601 123 456"),
    ("GR", "21 2345 6789", "+30 21 2345 6789"),
    ("TR", "0501 234 56 78", "+90 501 234 56 78"),
    ("RU", "8 (301) 123-45-67", "+7 301 123-45-67"),
    ("UA", "050 123 4567", "+380 50 123 4567"),
    ("IN", "074104 10123", "+91 74104 10123"),
    ("JP", "090-1234-5678", "+81 90-1234-5678"),
    ("KR", "02-212-3456", "+82 2-212-3456"),
    ("CN", "131 2345 6789", "+86 131 2345 6789"),
    ("BR", "(11) 2345-6789", "+55 11 2345-6789"),
    ("MX", "222 123 4567", "+52 222 123 4567"),
    ("AR", "011 2345-6789", "+54 11 2345-6789"),
    ("AU", "0412 345 678", "+61 412 345 678"),
    ("NZ", "03 234 5678", "+64 3 234 5678"),
    ("ZA", "071 123 4567", "+27 71 123 4567"),
    ("NG", "02033 12 3456", "+234 2033 12 3456"),
    ("KE", "0712 123456", "+254 712 123456"),
    ("EG", "02 34567890", "+20 2 34567890"),
    ("IL", "050-234-5678", "+972 50-234-5678"),
    ("AE", "02 234 5678", "+971 2 234 5678"),
    ("SG", "8123 4567", "+65 8123 4567"),
    ("PH", "(02) 3234 5678", "+63 2 3234 5678"),
    ("TH", "081 234 5678", "+66 81 234 5678"),
]
# Without a phone word these national shapes read as something else, so they are left alone: two
# short groups as a house number ("8123 4567"), 3-3-3 digits as a count ("912 345 678").
AMBIGUOUS_WITHOUT_PHONE_WORD = {"SG", "PT", "CZ"}


def _phones(text: str, **kw) -> list[str]:
    return [text[m.start : m.end] for m in find_pii(text, **kw) if m.type == "PHONE"]


def test_reference_numbers_are_valid_for_the_library():
    for region, national, intl in COUNTRIES:
        assert pn.is_valid_number(pn.parse(national, region)), region
        assert pn.region_code_for_number(pn.parse(intl, None)) == region


@pytest.mark.parametrize(("region", "national", "intl"), COUNTRIES)
def test_forty_countries_every_format(region, national, intl):
    cc, rest = intl.split(" ", 1)
    variants = [
        intl,
        "+" + "".join(c for c in intl if c.isdigit()),  # E.164
        "00" + intl[1:],
        cc + " " + rest.replace(" ", "-"),
        cc + "." + rest.replace(" ", ".").replace("-", "."),
        intl + " ext. 204",
        intl + " x17",
    ]
    for v in variants:
        assert _phones(f"Reach us at {v} any day.") == [v], v
        assert _phones(f"{v}") == [v], v
    assert _phones(f"Tel.: {national}, thanks") == [national]
    assert _phones(f"Telefon {national} x12") == [national + " x12"]
    expected = [] if region in AMBIGUOUS_WITHOUT_PHONE_WORD else [national]
    assert _phones(f"The new number is {national}.") == expected


def test_trunk_zero_after_the_country_code():
    for text in ["+44 (0)20 7946 0958", "+49 (0)30 123456", "+41 (0) 21 234 56 78"]:
        assert _phones(f"Desk: {text}; fax none") == [text]


@pytest.mark.parametrize(
    "text",
    [
        "The meeting on 2024-03-12 was moved to 12/04/2025.",
        "Order #48213907 shipped on 03.05.2024.",
        "Order number: 4821390712 is on its way.",
        "The museum is at 17151 2450 Crown St, 90210-1234.",
        "ISBN 978-3-161-48410-0, printed 1999.",
        "Please update to version 10.4.122 before Friday.",
        "The city had 1 234 567 inhabitants in 2011.",
        "Between 1966-1967 sales rose from 12,345.00 to 99 000.",
        "The site lies at 48.8566, 2.3522.",
        "Account 902341123 was opened on 1/2/2020.",
        "The Foundation's EIN or federal tax identification number is 64-6221541.",
        "invoice INV-2024-000123 totals 1,299.00 EUR",
        "coordinates 51.5007 -0.1246, elevation 35.0 m",
        "GPS 58.1048 2.0217, altitude 12.5 m; prices 12.50 13.99 15.25",
    ],
)
def test_non_phones_stay_unredacted(text):
    assert find_pii(text) == [], [(m.type, text[m.start : m.end]) for m in find_pii(text)]


def test_a_number_is_cut_out_only_where_its_style_changes():
    assert _phones("Call +44 20 7946 0958/24 hours a day") == ["+44 20 7946 0958"]
    assert _phones("ISBN 978-5-655-85204-9") == []
    assert _phones("Call +1-415-555-0132 020 7946 0958 now") == ["+1-415-555-0132", "020 7946 0958"]
    assert _phones("Call +1 415 555 0132 020 7946 0958 now") == []  # one style throughout: not split


def test_phone_words_widen_the_regions():
    iceland = "611 1234"  # a valid Icelandic mobile; Iceland is not a default region
    assert pn.is_valid_number(pn.parse(iceland, "IS")) and "IS" not in P.DEFAULT_REGIONS
    assert _phones(f"The code is {iceland}.") == []
    assert _phones(f"Tel. {iceland}") == [iceland]
    assert _phones(f"Puhelin: {iceland}") == [iceland]
    assert _phones("sími 611-1234", phone_regions=("IS",)) == ["611-1234"]


def test_phone_regions_option():
    text = "Le 06 12 34 56 78 ou (201) 555-0123."
    assert _phones(text, phone_regions=("FR",)) == ["06 12 34 56 78"]
    assert _phones(text, phone_regions=("US",)) == ["(201) 555-0123"]
    det = PIIDetector(phone_regions=["fr"])
    assert det.phone_regions == ("FR",)
    assert [s.label for s in pickle.loads(pickle.dumps(det)).detect_batch([text])[0].spans] == ["PHONE"]
    with pytest.raises(ValueError, match="XX"):
        PIIDetector(phone_regions=["FR", "XX"])


def test_international_numbers_need_only_a_possible_length():
    # An unassigned Swiss range after "+41" is still someone's number as written; a length no
    # country uses is not.
    assert _phones("Desk: +41 96 471 07 95") == ["+41 96 471 07 95"]
    assert _phones("score +41 96 471 07 95 12 34 5") == []
    assert _phones("+999 123 4567") == []  # no such country code


def test_gate_never_refuses_what_the_library_accepts():
    """The cheap per-region gate is a necessary condition of the library's verdict: example numbers
    of every region and type, and random digit strings for the default regions."""
    rng = random.Random(5)
    checked = 0
    for region in P.ALL_REGIONS:
        for t in pn.PhoneNumberType.values():
            ex = pn.example_number_for_type(region, t)
            if ex is None:
                continue
            nat = "".join(c for c in pn.format_number(ex, pn.PhoneNumberFormat.NATIONAL) if c.isdigit())
            nsn = pn.national_significant_number(ex)
            if pn.is_valid_number(ex) and pn.region_code_for_number(ex) == region:
                assert P._may_be_national(region, nat), (region, nat)
                assert P._may_be_international(str(ex.country_code) + nsn), region
                checked += 1
    for region in P.DEFAULT_REGIONS:
        for _ in range(150):
            digits = rng.choice(["0", "", "1", "8"]) + "".join(
                rng.choices("0123456789", k=rng.randint(6, 11))
            )
            if P._library_valid(digits, region):
                assert P._may_be_national(region, digits), (region, digits)
                checked += 1
    assert checked > 2000


def test_found_numbers_are_what_the_library_says():
    """Every phone found on the evaluation set is valid for the library (international: a possible
    length after "+"; national: valid for some region)."""
    rows = _rows()
    n = 0
    for r in rows[:400]:
        for m in find_pii(r["text"]):
            if m.type != "PHONE":
                continue
            core = P._EXT_RE.sub("", r["text"][m.start : m.end])
            if core.startswith("+"):
                assert pn.is_possible_number(pn.parse(core, None)), core
            else:
                assert P.number_valid(core, P.ALL_REGIONS), core
            n += 1
    assert n > 150


def _rows() -> list[dict]:
    with FIXTURE.open(encoding="utf-8") as f:  # a missing fixture fails here, it never skips
        lines = [json.loads(line) for line in f]
    assert "phonenumbers" in lines[0]["header"]["about"]
    return lines[1:]


def _score(split: str) -> tuple[float, float, int, int]:
    gold_n = tp = pred_n = 0
    other = 0
    for r in _rows():
        if r["split"] != split:
            continue
        found = find_pii(r["text"])
        phones = {(m.start, m.end) for m in found if m.type == "PHONE"}
        gold = {(s, e) for s, e, *_ in r["spans"]}
        gold_n, pred_n, tp = gold_n + len(gold), pred_n + len(phones), tp + len(phones & gold)
        other += r["kind"] == "negative" and any(m.type != "PHONE" for m in found)
    return tp / gold_n, tp / pred_n, gold_n, other


@pytest.mark.parametrize("split", ["holdout", "test", "tune"])
def test_every_split_meets_the_goals(split):
    """Issue 15's goals (recall and precision >= 0.95). ``holdout`` is the held-out part; ``test``
    stopped being held out when its errors were read (see build.py); figures:
    benchmarks/results/eval_phones.json."""
    recall, precision, gold, other = _score(split)
    assert gold > 400
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)
    assert other == 0  # no other PII type fires on the dates, postcodes, prices, ISBNs ... either


def test_cost_is_linear_in_library_calls(monkeypatch):
    """Pathological digit soup: the library is asked a bounded number of times per character, and
    10x the text costs about 10x the calls (time itself: benchmarks/eval_phones.py)."""
    calls = {"n": 0}
    real_valid, real_possible = P._library_valid, P._library_possible

    def count(fn):
        def inner(*a):
            calls["n"] += 1
            return fn(*a)

        return inner

    monkeypatch.setattr(P, "_library_valid", count(real_valid))
    monkeypatch.setattr(P, "_library_possible", count(real_possible))
    rng = random.Random(1)
    for alphabet in ("0123456789 .-()+/x", "0123456789 ", "0123456789-"):
        per_size = []
        for size in (10_000, 100_000):
            P.number_valid.cache_clear()
            calls["n"] = 0
            find_pii("".join(rng.choice(alphabet) for _ in range(size)))
            per_size.append(calls["n"])
            assert calls["n"] <= size // 4, (alphabet, size, calls["n"])
        assert per_size[1] <= 14 * max(per_size[0], 1), (alphabet, per_size)


def test_no_digits_no_cost(monkeypatch):
    monkeypatch.setattr(P, "_PHONE_RE", None)  # any use would raise
    assert find_pii("No digits here at all, only words. " * 200) == []


# --- the stream guard: streamed text and verdict == Filter.check, for every chunking --------------

FRAGMENTS = [
    "Tel.:", "call me at", "Telefon", "Order #", "ZIP", "Crown Street", "the number is", "ext.", "x",
    "+44 (0)20 7946 0958", "0044 20 7946 0958", "(06 1) 234 5678", "030/1234567", "+1 201-555-0123 x17",
    "06 12 34 56 78", "611 1234", "1 234 567", "1966-1967", "020 7946 0958/24", "978-5-655-85204-9",
    "+7 301 123-45-67", "8 (301) 123-45-67", "(11) 2345-6789", "12", "0958", "+41", "204",
]  # fmt: skip
SEPARATORS = [" ", " ", "\n", ", ", "  "]


@pytest.fixture(scope="module")
def rules() -> Filter:
    return Filter(rules_only_policy(), mode="runtime")


def _streamed(filt: Filter, pieces: list[str]) -> tuple[StreamGuard, str]:
    g = StreamGuard(filt)
    return g, "".join(g.feed(p) for p in pieces) + g.close()


@pytest.mark.parametrize(
    "text",
    [
        "Tel.: 611 1234 and +44 (0)20 7946 0958 x 12 then Order # 4821390712 ok",
        "Call 020 7946 0958/24 hours, or (06 1) 234 5678 ext. 5, not 1 234 567 people",
    ],
)
def test_stream_every_split_point(rules, text):
    want = rules.check(text)
    assert "<PHONE>" in want.text
    for pieces in [[text], list(text)] + [[text[:k], text[k:]] for k in range(1, len(text))]:
        g, out = _streamed(rules, pieces)
        assert (g.verdict, out) == (want, want.text), pieces


@pytest.mark.parametrize("seed_value", [15, 2026])
def test_stream_property_phone_fragments(rules, seed_value):
    @seed(seed_value)
    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        parts=st.lists(st.tuples(st.sampled_from(FRAGMENTS), st.sampled_from(SEPARATORS)), max_size=40),
        cuts=st.lists(st.integers(0, 3000), max_size=40),
    )
    def streamed_equals_check(parts, cuts):
        text = "".join(f + s for f, s in parts)
        bounds = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
        g, out = _streamed(rules, [text[a:b] for a, b in itertools.pairwise(bounds)])
        want = rules.check(text)
        assert (g.verdict, out) == (want, want.text), text

    streamed_equals_check()
