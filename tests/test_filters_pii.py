"""PII and secrets: recall on the presidio span set, validators, edge cases, redaction."""

from __future__ import annotations

import json

import pytest

from filters.pii import PRESIDIO_TYPES, find_pii, iban_valid, luhn_valid, redact

# Floors measured on presidio_synth_dataset_v2 (span-exact recall; measured: email 1.00, IP 1.00,
# IBAN 1.00, SSN 1.00, credit card 0.99, phone 0.91 with libphonenumber validation, 2026-12-03; it
# misses Faker numbers no numbering plan has) minus a margin. In-sample: rules were tuned on it.
# So these are regression floors, not a quality claim: the implementation's own in-sample recall less a
# margin, and all a pass shows is that no change lost spans here. In spans of this set (gold: EMAIL 49,
# IP 14, IBAN 21, SSN 16, CREDIT_CARD 136, PHONE 92), 0.95 lets EMAIL lose 2, IBAN 1 and CREDIT_CARD 5 more
# than measured, IP and SSN none; PHONE's 0.85 lets it lose 5 of its 84. No outside goal sets them. The
# quality figures are held out: benchmarks/eval_pii_heldout.py (values from other generators, split fixed
# before scoring) and benchmarks/eval_phones.py, in BENCHMARKS.md.
EXACT_RECALL_FLOOR = {
    "EMAIL": 0.95,
    "IP_ADDRESS": 0.95,
    "IBAN": 0.95,
    "US_SSN": 0.95,
    "CREDIT_CARD": 0.95,
    "PHONE": 0.85,
}


def test_presidio_span_recall_and_precision(shared_data):
    data = json.loads((shared_data / "pii" / "presidio_synth_dataset_v2.json").read_text(encoding="utf-8"))
    n = dict.fromkeys(EXACT_RECALL_FLOOR, 0)
    exact = dict.fromkeys(EXACT_RECALL_FLOOR, 0)
    pred = correct = 0
    for x in data:
        found = find_pii(x["full_text"])
        gold = [
            (s["start_position"], s["end_position"], PRESIDIO_TYPES[s["entity_type"]])
            for s in x["spans"]
            if s["entity_type"] in PRESIDIO_TYPES
        ]
        for s, e, t in gold:
            n[t] += 1
            exact[t] += any(p.start == s and p.end == e and p.type == t for p in found)
        for p in found:
            pred += 1
            correct += any(p.type == t and p.start < e and s < p.end for s, e, t in gold)
    for t, floor in EXACT_RECALL_FLOOR.items():
        assert n[t] > 0
        assert exact[t] / n[t] >= floor, (t, exact[t], n[t])
    assert correct / pred >= 0.9


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("mail me: first.last+tag@sub.example.co.uk.", "EMAIL", "first.last+tag@sub.example.co.uk"),
        ("server at 192.168.0.1:8080 is up", "IP_ADDRESS", "192.168.0.1"),
        ("v6 2001:db8::8a2e:370:7334 here", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
        ("card 4111 1111 1111 1111 exp", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("IBAN GB82 WEST 1234 5698 7654 32 thanks", "IBAN", "GB82 WEST 1234 5698 7654 32"),
        ("IBAN DE89370400440532013000.", "IBAN", "DE89370400440532013000"),
        ("ssn 123-45-6789.", "US_SSN", "123-45-6789"),
        ("call +1 (415) 555-0132 now", "PHONE", "+1 (415) 555-0132"),
        ("ruf an: +49 30 1234567", "PHONE", "+49 30 1234567"),
        ("key AKIAIOSFODNN7EXAMPLE", "AWS_KEY", "AKIAIOSFODNN7EXAMPLE"),
        ("token ghp_" + "a" * 20 + "B" * 16 + " ok", "GITHUB_TOKEN", "ghp_" + "a" * 20 + "B" * 16),
        ("slack xoxb-1234567890-abcdefghij", "SLACK_TOKEN", "xoxb-1234567890-abcdefghij"),
        ("OPENAI sk-proj-" + "Ab3" * 10, "OPENAI_KEY", "sk-proj-" + "Ab3" * 10),
        ("g AIza" + "SyD3" * 8 + "xyz", "GOOGLE_API_KEY", "AIza" + "SyD3" * 8 + "xyz"),
        ("api_key = 'q8Zt2LmX9vR4pK7wN3bY6cF1'", "GENERIC_SECRET", "q8Zt2LmX9vR4pK7wN3bY6cF1"),
    ],
)
def test_entities_found_with_exact_spans(text, kind, value):
    found = [(m.type, text[m.start : m.end]) for m in find_pii(text)]
    assert (kind, value) in found, found


def test_private_key_and_jwt():
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAKCAQEA\n-----END RSA PRIVATE KEY-----"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    found = find_pii(f"key:\n{pem}\nand {jwt}.")
    assert {m.type for m in found} == {"PRIVATE_KEY", "JWT"}


@pytest.mark.parametrize(
    "text",
    [
        "version 1.2.3.4 released",  # a valid IPv4, but right after a version word it is a version
        "card 4111 1111 1111 1112 is not Luhn-valid",
        "IBAN GB82 WEST 1234 5698 7654 33 bad checksum",
        "ssn 000-12-3456 and 666-12-3456 and 123-00-4567 invalid ranges",
        "address 999.1.1.1 and 256.256.256.256 are not IPs",
        "the year 2019 and 10,000 people, 3.14159",
        "on 2021-03-04 at 12:30:45 we met",
        "std::vector<int> v; a[::2]",
        "password = password123",  # low entropy
        "user@localhost is not a routable address",
    ],
)
def test_negatives(text):
    found = {(m.type, text[m.start : m.end]) for m in find_pii(text)}
    assert not found, found


def test_validators():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82WEST12345698765432") and iban_valid("gb82 west 1234 5698 7654 32")
    assert not iban_valid("GB82WEST12345698765433") and not iban_valid("XX82WEST12345698765432")


def test_redaction_placeholders():
    text = "Mail a@b.io, call +1 415 555 0132, key AKIAIOSFODNN7EXAMPLE."
    spans = [(m.start, m.end, m.placeholder) for m in find_pii(text)]
    assert redact(text, spans) == "Mail <EMAIL>, call <PHONE>, key <SECRET>."
    assert redact("abcdef", [(1, 3, "<X>"), (2, 5, "<Y>")]) == "a<X>f"


def test_pathological_inputs_find_nothing_and_do_not_crash():
    """No entity hides in these shapes. Their cost (linear from 10 KB to 10 MB) is measured by
    `python -m benchmarks.filter_speed` (pathological table), not timed here."""
    for text in [
        "1" * 200_000,  # longer than any number a rule accepts
        "a@" * 50_000,  # no domain after any @
        "-----BEGIN PRIVATE KEY-----" + "A" * 100_000,  # never closed
        ":" * 100_000,
        "\ud800" * 10,  # lone surrogates
    ]:
        assert find_pii(text) == [], text[:40]


def test_windowed_scan_equals_whole_text_scan(monkeypatch, shared_data):
    """find_pii scans only windows around digits / colons; the result must equal a whole-text scan."""
    import json
    import random

    import filters.pii as P

    data = json.loads((shared_data / "pii/presidio_synth_dataset_v2.json").read_text(encoding="utf-8"))
    texts = [d["full_text"] for d in data[:600]]
    rng = random.Random(7)
    alphabets = ["0123456789 .-()+xext:ABGBde\n@", "0123456789abcdefABCDEF:.= \"'_-apikeytokensecret\n"]
    texts += [
        "".join(rng.choice(a) for _ in range(rng.randint(5, 300))) for a in alphabets for _ in range(800)
    ]
    texts += ["word " * rng.randint(0, 40) + t for t in texts[:600]]  # entities far from the start
    windowed = [P.find_pii(t) for t in texts]
    monkeypatch.setattr(P, "_windows", lambda runs, before, after, n: [(0, n)])
    whole = [P.find_pii(t) for t in texts]
    assert windowed == whole
    assert sum(map(len, whole)) > 200  # measured 273: the comparison covers real entities


def test_generic_secret_windows_equal_whole_text_scan():
    """Credentials are searched only near the words key/secret/token/pass; every credential name of
    every spelling, with quotes, blanks and values up to the 200-character cap, is still found."""
    import random

    import filters.pii as P

    rng = random.Random(3)
    names = ["api_key", "API-SECRET", "secretkey", "Client_Secret", "access-token", "AuthToken", "access_key"]
    names += ["private-key", "PASSWORD", "passwd", "secret", "token", "apikey"]
    value_chars = "abcdefXYZ0123456789_-+/=.~"
    texts = []
    for _ in range(3000):
        name = rng.choice(names)
        value = "".join(rng.choice(value_chars) for _ in range(rng.choice([15, 16, 40, 199, 200, 230])))
        quote = rng.choice(["", "'", '"'])
        sep = " " * rng.randint(0, 4) + rng.choice(":=") + "\t" * rng.randint(0, 3)
        before = "".join(rng.choice("ab _.") for _ in range(rng.randint(0, 12)))
        texts.append(f"{before}{name}{quote}{sep}{quote}{value} tail")
    windowed = [[m for m in P.find_pii(t) if m.type == "GENERIC_SECRET"] for t in texts]
    whole = [
        [
            (m.start(1), m.end(1))
            for m in P._GENERIC_SECRET_RE.finditer(t)
            if P._generic_secret_valid(m.group(1))
        ]
        for t in texts
    ]
    assert [[(m.start, m.end) for m in w] for w in windowed] == whole
    assert sum(map(len, whole)) > 1000  # the comparison covers many real matches


def test_credential_word_gate_covers_every_ignorecase_spelling():
    """The gate lists every spelling re's (?i) accepts for the credential words (all of Unicode)."""
    import re
    import sys

    import filters.pii as P

    letters = sorted(set("".join(P._SECRET_WORDS)))
    probe = re.compile("(?i)[" + "".join(letters) + "]")
    hits = [
        chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF and probe.fullmatch(chr(c))
    ]
    for letter in letters:
        one = re.compile("(?i)" + letter)
        assert {c for c in hits if one.fullmatch(c)} == set(P._ignorecase_spellings(letter)), letter


@pytest.mark.parametrize(
    "text",
    [
        "The restaurant is at 17151 2450 Crown St, downtown.",
        "Please send it to 03262 2437 Main Street South.",
        "My zip code is 90010-170",
        "ZIP: 75534-030",
        "my driver's license number is 2270-66-1551",
    ],
)
def test_house_numbers_and_labelled_codes_are_not_phones(text):
    assert [m.type for m in find_pii(text)] == []


def test_phones_near_street_words_stay_phones():
    text = "Call (579) 888-3058 or +41 71 526 99 04 from the St Louis office."
    assert [m.type for m in find_pii(text)] == ["PHONE", "PHONE"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("SSN: 219099999 on file.", "219099999"),
        ("Her social security number is 412345678.", "412345678"),
        ("my social is 523456789, ok?", "523456789"),
    ],
)
def test_nine_digit_ssn_after_a_label_that_says_so(text, value):
    found = [(text[m.start : m.end], m.type) for m in find_pii(text)]
    assert (value, "US_SSN") in found


@pytest.mark.parametrize(
    "text",
    [
        "Social media has 412345678 monthly users.",  # "social", but not a label before the number
        "Order 412345678 shipped today.",
        "SSN: 666123456 is not a valid number.",  # area 666 is never issued
    ],
)
def test_nine_digits_without_an_ssn_label_are_not_ssns(text):
    assert not [m for m in find_pii(text) if m.type == "US_SSN"]


@pytest.mark.parametrize(
    "text", ["Firmware 4.2.10.7 is out.", "Update to version 10.1.2.3 now.", "release v1.2.3.4"]
)
def test_a_dotted_version_is_not_an_ip_address(text):
    assert not [m for m in find_pii(text) if m.type == "IP_ADDRESS"]


def test_an_address_after_other_words_is_still_an_ip_address():
    text = "The server at 10.1.2.3 went down; ping 192.168.0.10 too."
    assert [text[m.start : m.end] for m in find_pii(text) if m.type == "IP_ADDRESS"] == [
        "10.1.2.3",
        "192.168.0.10",
    ]
    text = "Update: 192.168.1.1 is the new gateway; please update 10.0.0.1 and 10.0.0.2 (build 10.0.0.3)."
    assert [text[m.start : m.end] for m in find_pii(text) if m.type == "IP_ADDRESS"] == [
        "192.168.1.1",
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
    ]
