"""PII and secrets: validated pattern detection on the raw text, with typed redaction.

Each entity type is one bounded regex (no nested unbounded quantifiers, every
repeat capped) that proposes candidates, and a validator that rejects what is
only shaped like one: Luhn for credit cards, ISO 13616 mod-97 and the country's
length for IBANs, SSA ranges for US SSNs, `ipaddress` for IP addresses,
libphonenumber (``phonenumbers``, see filters/phones.py) for phone numbers, Shannon entropy for
generic ``key=value`` secrets.
Cheap substring gates skip the regexes a text cannot match (no ``@`` -> no
e-mail scan). The detector runs on the raw text, never on the normalized view,
so leetspeak folding cannot break a number.

Overlaps are resolved deterministically: the longest span wins, then the
earliest, then the most specific type (secrets before PII).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from filters.automaton import Automaton
from filters.detectors.base import DetectorResult, Span
from filters.phones import ALL_REGIONS, CONTEXT_BEFORE, DEFAULT_REGIONS, phone_spans

__all__ = ["PLACEHOLDERS", "PIIDetector", "PIIMatch", "find_pii", "iban_valid", "luhn_valid", "redact"]

PLACEHOLDERS = {
    "EMAIL": "<EMAIL>",
    "PHONE": "<PHONE>",
    "IP_ADDRESS": "<IP_ADDRESS>",
    "CREDIT_CARD": "<CREDIT_CARD>",
    "IBAN": "<IBAN>",
    "US_SSN": "<US_SSN>",
    "SECRET": "<SECRET>",
}
SECRET_TYPES = frozenset({"AWS_KEY", "GITHUB_TOKEN", "SLACK_TOKEN", "OPENAI_KEY", "GOOGLE_API_KEY"})
SECRET_TYPES |= {"STRIPE_KEY", "PRIVATE_KEY", "JWT", "GENERIC_SECRET"}


@dataclass(frozen=True)
class PIIMatch:
    """One entity on the raw text: [start, end), its type, and its category (pii or secrets)."""

    start: int
    end: int
    type: str

    @property
    def category(self) -> str:
        return "secrets" if self.type in SECRET_TYPES else "pii"

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS["SECRET"] if self.category == "secrets" else PLACEHOLDERS[self.type]


# --- patterns -----------------------------------------------------------------------------------

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
_IPV4_RE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
_IPV6_RE = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}(?:\.\d{1,3}){0,3}(?![\w:])"
)
# 12-19 digits in groups separated by single spaces or dashes.
_CARD_RE = re.compile(r"(?<![\d\-+])\d(?:[ \-]?\d){11,18}(?![\d])")
# Contiguous, or printed in groups of four ("GB82 WEST 1234 5698 7654 32").
_IBAN_RE = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,3})?)(?![A-Za-z0-9])"
)
_SSN_RE = re.compile(r"(?<![\d\-])(\d{3})([\- ])(\d{2})\2(\d{4})(?![\d\-])")
# Nine digits with no separator are an SSN only right after a label that says so ("my social is
# 171318791", "SSN: 171318791"), not after any mention of "social" ("social media has 123456789 users").
_SSN_BARE_RE = re.compile(r"(?<![\d\-.,])(\d{3})(\d{2})(\d{4})(?![\d\-]|[.,]\d)")
_SSN_LABEL_RE = re.compile(
    r"(?i)\b(?:ssn|ss#|social security(?: number| no\.?| #)?|social)(?: is| was)?[\s:#.]{0,3}$"
)
# A dotted quad right after "firmware", "version" or "ver", or written "v1.2.3.4", is a version ("Firmware
# 5.3.11.16"), not an address. Everyday words ("update", "build", "release") do not count: "update 10.0.0.1"
# names an address, and a missed address costs more than a false one.
_VERSION_BEFORE_RE = re.compile(r"(?i)(?:\b(?:firmware|version|ver\.?)[\s:#]{0,3}|\bv)$")
VERSION_CONTEXT_BEFORE = 16

_SECRET_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "AWS_KEY",
        re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ),
    (
        "GITHUB_TOKEN",
        re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})"),
    ),
    ("SLACK_TOKEN", re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9\-]{10,250}")),
    ("OPENAI_KEY", re.compile(r"(?<![A-Za-z0-9_\-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,200}")),
    ("STRIPE_KEY", re.compile(r"(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,99}")),
    ("GOOGLE_API_KEY", re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])")),
    (
        "PRIVATE_KEY",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----[\s\S]{1,16384}?-----END (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----"
        ),
    ),
    (
        "JWT",
        re.compile(
            r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,4096}\.eyJ[A-Za-z0-9_\-]{8,8192}\.[A-Za-z0-9_\-]{8,4096}"
        ),
    ),
]
# key = "value" where the key name says it is a credential; the value is checked for entropy.
_GENERIC_SECRET_RE = re.compile(
    r"(?i)(?<![a-z0-9])(?:api[_\-]?key|api[_\-]?secret|secret[_\-]?key|client[_\-]?secret|access[_\-]?token|auth[_\-]?token|access[_\-]?key|private[_\-]?key|password|passwd|secret|token)"
    r"[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?([A-Za-z0-9_\-+/=.~]{16,200})"
)
# Presidio's entity type -> ours, for the types regex PII covers (evaluation on Presidio's data).
PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IP_ADDRESS": "IP_ADDRESS",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
}

_SECRET_GATES = {
    "AWS_KEY": ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"),
    "GITHUB_TOKEN": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "SLACK_TOKEN": ("xox",),
    "OPENAI_KEY": ("sk-",),
    "STRIPE_KEY": ("_live_", "_test_"),
    "GOOGLE_API_KEY": ("AIza",),
    "PRIVATE_KEY": ("PRIVATE KEY",),
    "JWT": ("eyJ",),
}

# Every credential name of _GENERIC_SECRET_RE holds one of these words, at most 8 characters after
# the name's start ("private_key"); the name is at most 13 characters, then a quote, 3 blanks, the
# separator, 3 blanks, a quote and a value of at most 200: 222 characters from the word's start.
_SECRET_WORDS = ("key", "secret", "token", "pass")
_SECRET_BEFORE, _SECRET_AFTER = 9, 230


def _ignorecase_spellings(word: str) -> list[str]:
    """Every string `re.fullmatch("(?i)" + word, s)` accepts for an ASCII word (e.g. "ſ" for "s",
    the Kelvin sign for "k"), read off `re` itself so the gate below matches exactly like it."""
    variants = []
    for letter in word:
        probe = re.compile("(?i)" + re.escape(letter))
        variants.append(
            sorted(
                {chr(c) for c in range(0x250) if probe.fullmatch(chr(c))}
                | {c for c in ("\u212a", "\u212b", "\u1e9e", "\u2126") if probe.fullmatch(c)}
            )
        )
    return ["".join(p) for p in product(*variants)]


def _gate_automaton() -> tuple[Automaton, list[str]]:
    """One automaton for the literal gates of the token patterns and the credential words; per
    pattern, the token kind it gates ("" for a credential word)."""
    patterns = {g: kind for kind, gates in _SECRET_GATES.items() for g in gates}
    for word in _SECRET_WORDS:
        patterns.update(dict.fromkeys(_ignorecase_spellings(word), ""))
    ordered = sorted(patterns)
    return Automaton(ordered), [patterns[p] for p in ordered]


_GATES, _GATE_KIND = _gate_automaton()


# --- validators ---------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# ISO 13616 IBAN lengths per country (SWIFT IBAN registry).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_valid(candidate: str) -> bool:
    """Country length and the mod-97 checksum (ISO 7064) of an IBAN, spaces ignored."""
    s = candidate.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(s[:2]) != len(s) or not s.isalnum():
        return False
    rearranged = s[4:] + s[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(digits) % 97 == 1


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_CARD_PREFIXES = (
    "4",
    "51",
    "52",
    "53",
    "54",
    "55",
    "50",
    "56",
    "57",
    "58",
    "6",
    "34",
    "37",
    "30",
    "36",
    "38",
)
_CARD_PREFIXES += ("35", "22", "23", "24", "25", "26", "27", "1800", "2131", "39")


def _card_valid(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    if not 12 <= len(digits) <= 19 or not digits.startswith(_CARD_PREFIXES):
        return False
    if len(set(digits)) < 2:  # 0000 0000 0000 0000 and friends
        return False
    seps = {c for c in candidate if not c.isdigit()}
    return len(seps) <= 1 and luhn_valid(digits)


# Context that makes a phone-shaped number something else: a street name and suffix after it (a
# house number: "17151 2450 Crown St"), or a postal code / ID label just before it.
_STREET_AFTER_RE = re.compile(
    r"[ \t]{1,3}(?:[A-Z][\w'’.-]{0,24}[ \t]{1,3}){1,3}"
    r"(?:St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Ln|Lane|Dr|Drive|Way|Ct|Court|Pl|Place|Pkwy|Parkway"
    r"|Hwy|Highway|Terrace|Ter|Circle|Cir|Sq|Square|Trail|Trl|Row|Crescent|Close)\b"
)
_LABEL_BEFORE_RE = re.compile(
    r"(?i)\b(?:zip|zip code|postal code|postcode|post code|licen[cs]e|passport|order|invoice|account|acct"
    r"|ref|reference|tracking|serial|customer|isbn|iban|bic|vat|tax|case|ticket|booking|confirmation"
    r"|ein|identification|id|ssn)(?: number| no\.?| nr\.?| id)?[)\]]?(?: is)?[\s:#.]{0,3}$"
)


# What makes a number a phone whatever its context: a country code, parentheses, or NANP dashes/dots.
_PHONE_MARKED_RE = re.compile(r"[+(]|(?:1[\-.])?\d{3}([\-.])\d{3}\1\d{4}(?!\d)")
# How far the context rules read around a bare number (the guard holds this much back, see stream.py):
# the street after it (3 names of 25 characters, 3 blanks each, a suffix, its word boundary) and the
# label before it.
PHONE_CONTEXT_AFTER = 3 + 3 * (25 + 3) + len("Boulevard") + 1
PHONE_CONTEXT_BEFORE = CONTEXT_BEFORE  # 30: the label here, the phone word in filters/phones.py
PHONE_STREET_WORDS = 4  # names and the suffix after a bare number that may still make it a house number


def _not_a_phone_here(text: str, start: int, end: int) -> bool:
    """A bare number that is a house number before a street, or labelled as a postal code or an ID.

    Only bare digit groups: a number with a country code or a phone's punctuation is a phone wherever
    it stands ("+1 415 555 0199 Oak Dr", "licence number 415-555-0199")."""
    if _PHONE_MARKED_RE.match(text, start, end) is not None:
        return False
    return _STREET_AFTER_RE.match(text, end) is not None or (
        _LABEL_BEFORE_RE.search(text[max(0, start - PHONE_CONTEXT_BEFORE) : start]) is not None
    )


def _is_version(text: str, start: int) -> bool:
    return _VERSION_BEFORE_RE.search(text[max(0, start - VERSION_CONTEXT_BEFORE) : start]) is not None


def _ssn_said_before(text: str, start: int) -> bool:
    return _SSN_LABEL_RE.search(text[max(0, start - CONTEXT_BEFORE) : start]) is not None


def _ipv4_valid(candidate: str) -> bool:
    parts = candidate.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) <= 255 and (p == "0" or p[0] != "0") for p in parts)


def _ipv6_valid(candidate: str) -> bool:
    if candidate.count(":") < 2:
        return False
    groups = [g for g in candidate.split(":") if g]
    if len(groups) < 3 and candidate not in ("::1",):  # "a::b" in code is not an address
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _entropy(s: str) -> float:
    counts = Counter(s)
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _generic_secret_valid(value: str) -> bool:
    classes = sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value))
    )
    return classes >= 2 and _entropy(value) >= 3.5


# --- detection ----------------------------------------------------------------------------------


# Digit windows. Every IPv4 / card / SSN / phone match holds a digit, has at most 6 non-digits between
# two of its digits ("ext. "), at most 2 characters before its first digit ("+", "(", "+(") and none after
# its last; so each lies inside one window of digit runs closer than 2 * _MARGIN, widened by _MARGIN
# (room for the lookarounds). An IBAN starts 2 letters before a run of >= 2 digits and spans at most
# 43 characters. Scanning only these windows (``finditer(text, pos, endpos)``: lookbehinds still see
# the real text before ``pos``) gives exactly the matches of a whole-text scan, for a fraction of
# the cost on prose, where digits are rare.
_DIGIT_RUN = re.compile(r"\d+")
_MARGIN = 8
_IBAN_BEFORE, _IBAN_AFTER = 3, 46
# An IPv6 match has a colon within its first 5 characters and spans at most 51; a generic secret's
# key ends at most 17 characters before its ":"/"=" and its value at most 205 after.
_COLON = re.compile(":")
_V6_BEFORE, _V6_AFTER = 5, 53


def _windows(runs: list[tuple[int, int]], before: int, after: int, n: int) -> list[tuple[int, int]]:
    """Merged [start - before, end + after) ranges of ``runs``, clipped to [0, n)."""
    out: list[list[int]] = []
    for s, e in runs:
        lo, hi = max(0, s - before), min(n, e + after)
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def _scan(pattern: re.Pattern[str], text: str, windows: list[tuple[int, int]]) -> list[re.Match[str]]:
    if len(windows) == 1 and windows[0] == (0, len(text)):
        return list(pattern.finditer(text))
    return [m for lo, hi in windows for m in pattern.finditer(text, lo, hi)]


def _candidates(text: str, phone_regions: tuple[str, ...]) -> list[PIIMatch]:
    found: list[PIIMatch] = []
    if "@" in text:
        found += [PIIMatch(m.start(), m.end(), "EMAIL") for m in _EMAIL_RE.finditer(text)]
    runs = [m.span() for m in _DIGIT_RUN.finditer(text)]
    if runs:
        n = len(text)
        win = _windows(runs, _MARGIN, _MARGIN, n)
        if "." in text:
            found += [
                PIIMatch(*m.span(), "IP_ADDRESS")
                for m in _scan(_IPV4_RE, text, win)
                if _ipv4_valid(m.group()) and not _is_version(text, m.start())
            ]
        found += [
            PIIMatch(*m.span(), "CREDIT_CARD") for m in _scan(_CARD_RE, text, win) if _card_valid(m.group())
        ]
        found += [
            PIIMatch(m.start(), m.end(), "US_SSN")
            for m in _scan(_SSN_RE, text, win)
            if _ssn_valid(m.group(1), m.group(3), m.group(4))
        ]
        found += [
            PIIMatch(m.start(), m.end(), "US_SSN")
            for m in _scan(_SSN_BARE_RE, text, win)
            if _ssn_valid(m.group(1), m.group(2), m.group(3)) and _ssn_said_before(text, m.start())
        ]
        found += [
            PIIMatch(s, e, "PHONE")
            for s, e in phone_spans(text, win, phone_regions)
            if not _not_a_phone_here(text, s, e)
        ]
        iban_runs = [(s, s) for s, e in runs if e - s >= 2]
        if iban_runs:
            iban_win = _windows(iban_runs, _IBAN_BEFORE, _IBAN_AFTER, n)
            found += [
                PIIMatch(*m.span(), "IBAN") for m in _scan(_IBAN_RE, text, iban_win) if iban_valid(m.group())
            ]
    if "::" in text or text.count(":") >= 2:
        colons = [(m.start(), m.start()) for m in _COLON.finditer(text)]
        win6 = _windows(colons, _V6_BEFORE, _V6_AFTER, len(text))
        found += [
            PIIMatch(*m.span(), "IP_ADDRESS") for m in _scan(_IPV6_RE, text, win6) if _ipv6_valid(m.group())
        ]
    # One automaton pass finds the token gates and the credential words (every occurrence).
    gates = _GATES.find(text)
    kinds = {_GATE_KIND[i] for i, _, _ in gates}
    for kind, pattern in _SECRET_PATTERNS:
        if kind in kinds:
            found += [PIIMatch(*m.span(), kind) for m in pattern.finditer(text)]
    if "" in kinds and ("=" in text or ":" in text):
        words = sorted((start, start) for i, start, _ in gates if not _GATE_KIND[i])
        for m in _scan(_GENERIC_SECRET_RE, text, _windows(words, _SECRET_BEFORE, _SECRET_AFTER, len(text))):
            if _generic_secret_valid(m.group(1)):
                found.append(PIIMatch(m.start(1), m.end(1), "GENERIC_SECRET"))
    return found


_PRIORITY = {"EMAIL": 1, "IBAN": 1, "CREDIT_CARD": 1, "US_SSN": 1, "IP_ADDRESS": 2, "PHONE": 3}


def find_pii(text: str, *, phone_regions: tuple[str, ...] = DEFAULT_REGIONS) -> list[PIIMatch]:
    """Non-overlapping validated entities of ``text``, sorted by start offset. ``phone_regions``:
    the regions whose national phone formats count (international ones always do)."""
    cands = _candidates(text, phone_regions)
    if not cands:
        return []
    # Longest first; ties: earlier, then the more specific type (checksummed before phone).
    cands.sort(key=lambda m: (-(m.end - m.start), m.start, _PRIORITY.get(m.type, 0), m.type))
    taken: list[PIIMatch] = []
    occupied = bytearray(len(text))  # O(total span length), not O(candidates^2)
    for c in cands:
        if not any(occupied[c.start : c.end]):
            taken.append(c)
            occupied[c.start : c.end] = b"\x01" * (c.end - c.start)
    taken.sort(key=lambda m: m.start)
    return taken


def redact(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Replace each (start, end, placeholder) of ``text``; overlapping spans are merged (first placeholder wins)."""
    if not spans:
        return text
    spans = sorted(spans, key=lambda s: (s[0], -s[1]))
    merged: list[list] = []
    for s, e, ph in spans:
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e, ph])
    out: list[str] = []
    pos = 0
    for s, e, ph in merged:
        out.append(text[pos:s])
        out.append(ph)
        pos = e
    out.append(text[pos:])
    return "".join(out)


class PIIDetector:
    """Detector adaptor: scores ``pii`` and ``secrets`` (1.0 when at least one entity is found)."""

    name = "pii"

    def __init__(self, phone_regions: Sequence[str] | None = None) -> None:
        regions = tuple(DEFAULT_REGIONS if phone_regions is None else (r.upper() for r in phone_regions))
        unknown = sorted(set(regions) - set(ALL_REGIONS))
        if unknown:
            raise ValueError(f"pii.phone_regions: unknown region codes {unknown} (ISO 3166 alpha-2)")
        self.phone_regions = regions

    def detect_batch(self, texts: list[str]) -> list[DetectorResult]:
        out = []
        for text in texts:
            matches = find_pii(text, phone_regions=self.phone_regions)
            spans = [Span(m.category, m.start, m.end, m.type) for m in matches]
            cats = {m.category for m in matches}
            out.append(
                DetectorResult(
                    scores={
                        "pii": 1.0 if "pii" in cats else 0.0,
                        "secrets": 1.0 if "secrets" in cats else 0.0,
                    },
                    spans=spans,
                )
            )
        return out
