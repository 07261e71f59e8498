"""Phone numbers: a bounded regex proposes groups of digits, libphonenumber decides.

Why this split: which digit strings are real numbers (lengths, area codes, mobile ranges of ~245
regions) is what the ``phonenumbers`` port of Google's libphonenumber maintains, so it is the judge;
but its ``PhoneNumberMatcher`` reads far ahead and behind a number and gives up after a global number
of tries, which a streaming guard cannot mirror. Our own regex therefore fixes *where* a number may be
(digit groups joined by one space, dot, dash or slash, parenthesized area codes, a ``+``/``00``
prefix, an ``x``/``ext.`` extension: every token the stream guard holds back) and the library says
*whether* it is one:

* ``+CC ...``: a length its country code uses (the "+" already marks a phone number), in any text;
* ``00CC ...``: valid for its country code, in any text;
* a national number (no country code): valid for one of the configured regions (``DEFAULT_REGIONS``,
  53 countries), or for any region when a phone word ("tel", "call", "Telefon", ...) stands within
  ``CONTEXT_BEFORE`` characters before it.

Shapes that are other things are refused before any lookup: dates, SSNs, IPv4 addresses, cards
(three groups of four digits), and without a phone word or an extension also two short groups (a
house number), "1 234 567" (a count), ZIP+4 codes, year ranges, decimals ("58.1048 2.0217") and
bare runs of other than 10-11 digits. When a whole candidate is not a number, the longest valid run
of its groups is taken, but only where the separator changes ("+44 20 7946 0958/24 h"; not inside
"978-5-655-85204-9").
A cheap gate (the region's general number pattern, read from the same metadata) skips the library for
the regions a digit string cannot belong to; `tests/test_pii_phones_intl.py` checks that the gate
never rejects what the library accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import phonenumbers as pn

__all__ = ["CONTEXT_BEFORE", "DEFAULT_REGIONS", "number_valid", "phone_spans"]

# National formats are recognised for these regions (ISO 3166 alpha-2); international ones for all.
DEFAULT_REGIONS: tuple[str, ...] = (
    "US", "CA", "GB", "IE", "AU", "NZ", "IN", "ZA", "NG", "KE", "DE", "AT", "CH", "FR", "BE", "NL",
    "LU", "ES", "PT", "IT", "PL", "CZ", "SE", "NO", "DK", "FI", "RU", "UA", "TR", "GR", "RO", "HU",
    "BR", "MX", "AR", "CO", "CL", "PE", "JP", "KR", "CN", "HK", "TW", "SG", "MY", "PH", "ID", "TH",
    "VN", "IL", "AE", "SA", "EG",
)  # fmt: skip
ALL_REGIONS: tuple[str, ...] = tuple(sorted(pn.SUPPORTED_REGIONS))
CONTEXT_BEFORE = 30  # characters before a number read for a phone word (the stream keeps <= 128)
_MIN_DIGITS, _MAX_DIGITS = 7, 17  # a national number with its trunk prefix, or one with "00CC"
_DIGITS_RE = re.compile(r"\d+")

# One candidate: an optional "+", then up to 8 groups. A digit group follows another digit group only
# after one separator, so a digit run is never split two ways (linear backtracking); a parenthesized
# group ("(415)", "(0)") may touch its neighbours and is always followed by digits, so a candidate
# starts at most 2 characters before its first digit ("+(") and ends on a digit (or its
# extension's), with at most 6 non-digits between two digits (" ext. "): pii.py's digit windows.
_PHONE_RE = re.compile(
    r"(?<![\w+\-./])\+?(?:\d{1,15}|\(\d{1,5}(?: \d{1,5})?\)(?=[ .\-]?\d))"
    r"(?:[ .\-/]\d{1,12}|(?<=\))\d{1,12}|[ .\-]?\(\d{1,5}(?: \d{1,5})?\)(?=[ .\-]?\d)){0,7}"
    r"(?:[ ]?(?:x|X|ext\.?|Ext\.?|EXT\.?)[ ]?\d{1,6})?"
    r"(?![\w]|[\-./]\d)"
)
_GROUP_RE = re.compile(r"\+?\d+|\(\d+(?: \d+)?\)")
_EXT_RE = re.compile(r"[ ]?(?:x|X|ext\.?|Ext\.?|EXT\.?)[ ]?\d{1,6}$")
# A phone word just before a number (several languages); digits between them break the link.
_CONTEXT_RE = re.compile(
    r"(?i)(?:\b(?:tel|tél|tlf|phone|ph|call|calling|dial|ring|mobile|mob|cell|fax|whatsapp|sms"
    r"|hotline|helpline|t[eé]l[eé]f\w{0,8}|t[eé]l[eé]ph\w{0,6}|móvil|movil|celular|cellulare|handy"
    r"|mobil|puhelin|appelez|appeler|llame|llámame|llamar|ligue|chiama|anrufen|ruf|rufen)\b"
    r"|電話|тел|телефон)[^\d\n]{0,24}$"
)
# A date at the start of a candidate ("2024-03-12 12", "12.03.2024"): not a phone, nor part of one.
_YMD_RE = re.compile(r"^\d{4}([\-./])(\d{1,2})\1(\d{1,2})(?![\d\-./])")
_DMY_RE = re.compile(r"^(\d{1,2})([\-./])(\d{1,2})\2\d{2,4}(?![\d\-./])")
_SSN_SHAPE_RE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_THOUSANDS_RE = re.compile(r"^[1-9]\d{0,2}([ .,])\d{3}(?:\1\d{3}){1,3}$")
_ZIP4_RE = re.compile(r"^\d{5}-\d{4}$")
_YEARS_RE = re.compile(r"^(?:1[5-9]|20)\d\d[\-/](?:1[5-9]|20)\d\d$")
_DECIMALS_RE = re.compile(r"^\d{1,4}\.\d{1,6}(?: \d{1,4}\.\d{1,6}){1,3}$")


def _looks_like_date(core: str) -> bool:
    m = _YMD_RE.match(core)
    if m:
        return 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31
    m = _DMY_RE.match(core)
    if m:
        a, b = int(m.group(1)), int(m.group(3))
        return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)
    return False


def _shape_ok(core: str, international: bool, context: bool) -> bool:
    """Refuse the shapes of other things before asking the library (dates, SSN, IPv4, card groups,
    house numbers, bare runs that are counts or IDs)."""
    groups = _DIGITS_RE.findall(core)
    digits = sum(map(len, groups))
    if not _MIN_DIGITS <= digits <= _MAX_DIGITS:
        return False
    seps = {c for c in core if c in " .-/"}
    if _looks_like_date(core) or _SSN_SHAPE_RE.match(core):
        return False
    if international:
        return True
    if (
        not context
        and seps == {"."}
        and (digits < 9 or (len(groups) == 4 and all(len(g) <= 3 for g in groups)))
    ):
        return False  # versions and IPv4 addresses
    if core[0] != "0" and sum(len(g) == 4 for g in groups) >= 3:
        return False  # card / account numbers printed in groups of four
    if context:
        return True
    if any(r.match(core) for r in (_THOUSANDS_RE, _ZIP4_RE, _YEARS_RE, _DECIMALS_RE)):
        return False  # "1 234 567" inhabitants, a US ZIP+4 code, "1966-1967", "58.1048 2.0217"
    if seps == {" "} and len(groups) == 2 and digits < 9 and "(" not in core:
        return False  # "224 4966": more often a house number than a phone
    return bool(seps) or "(" in core or digits in (10, 11)  # a bare run: NANP-length only


_Gate = tuple[re.Pattern[str], re.Pattern[str] | None, re.Pattern[str] | None]


def _gate_for(region: str) -> _Gate:
    """The region's general number pattern, its national prefix, and whether to always ask the
    library (a prefix transform rule, or digits that begin with the region's international prefix)."""
    md = pn.PhoneMetadata.metadata_for_region(region)
    desc = re.compile(md.general_desc.national_number_pattern)
    npfp = md.national_prefix_for_parsing or md.national_prefix
    ask = "" if md.national_prefix_transform_rule else md.international_prefix  # "" matches all
    return desc, re.compile(npfp) if npfp else None, re.compile(ask) if ask is not None else None


_GATES: dict[str, _Gate] = {r: _gate_for(r) for r in ALL_REGIONS}
_CC_REGIONS = {cc: tuple(rs) for cc, rs in pn.COUNTRY_CODE_TO_REGION_CODE.items()}
_REGION_CC = {r: str(cc) for cc, rs in _CC_REGIONS.items() for r in rs}


def _may_be_national(region: str, digits: str, cc_stripped: bool = False) -> bool:
    """Necessary for ``parse(digits, region)`` to be valid: the number, the number after the
    region's national prefix, or (as the library reads it) after the region's own country code, fits
    the region's general pattern (see ``_gate_for`` for when the library is always asked)."""
    desc, npfp, ask = _GATES[region]
    if desc.fullmatch(digits) or (ask is not None and ask.match(digits)):
        return True
    m = npfp.match(digits) if npfp is not None else None
    if m is not None and m.end() > 0 and desc.fullmatch(digits, m.end()) is not None:
        return True
    cc = _REGION_CC[region]
    return not cc_stripped and digits.startswith(cc) and _may_be_national(region, digits[len(cc) :], True)


def _may_be_international(digits: str) -> bool:
    """Necessary for ``+digits`` to be valid: a country code whose regions' pattern fits the rest
    (with or without a "(0)" trunk digit)."""
    for k in (1, 2, 3):
        for region in _CC_REGIONS.get(int(digits[:k]), ()):
            if region == "001" or region not in _GATES:
                return True  # non-geographic entities: ask the library
            rest = digits[k:]
            if _may_be_national(region, rest) or (rest[:1] == "0" and _GATES[region][0].fullmatch(rest[1:])):
                return True
    return False


@lru_cache(maxsize=8192)
def number_valid(core: str, regions: tuple[str, ...]) -> bool:
    """Whether ``core`` (a candidate without extension) is a valid number: international forms for
    any country, national forms for one of ``regions``."""
    digits = "".join(c for c in core if c.isdigit())
    if core.startswith("+"):
        return 7 <= len(digits) <= 15 and _library_possible(core)
    if digits.startswith("00"):
        intl = digits[2:]
        if not 7 <= len(intl) <= 15 or not _may_be_international(intl):
            return False
        return _library_valid("+" + core[core.index("00") + 2 :], None)
    return any(_may_be_national(r, digits) and _library_valid(core, r) for r in regions)


def _library_possible(text: str) -> bool:
    """A "+CC" number of a length its country uses: the "+" already says it is a phone number (one
    in an unassigned range is still someone's number as written), so the length is enough."""
    try:
        num = pn.parse(text, None)
    except pn.NumberParseException:
        return False
    return pn.is_possible_number_with_reason(num) == pn.ValidationResult.IS_POSSIBLE


def _library_valid(text: str, region: str | None) -> bool:
    try:
        return pn.is_valid_number(pn.parse(text, region))
    except pn.NumberParseException:
        return False


def _context(text: str, start: int) -> bool:
    return _CONTEXT_RE.search(text, max(0, start - CONTEXT_BEFORE), start) is not None


def _cut_ok(text: str, groups: list[tuple[int, int]], i: int, j: int) -> bool:
    """A number cut out of a longer candidate must be set off by a separator it does not use inside
    ("020 7946 0958/24"): a run in one style ("978-5-655-85204-9") is one thing, not a phone in it."""
    inner = {text[b] for _, b in groups[i:j]}
    cuts = ([text[groups[i - 1][1]]] if i else []) + ([text[groups[j][1]]] if j < len(groups) - 1 else [])
    return not inner.intersection(cuts)


def _best_in(
    text: str, groups: list[tuple[int, int]], regions: tuple[str, ...], ext_end: int, context: bool
) -> list[tuple[int, int]]:
    """Valid numbers among the groups of one candidate: the one with the most digits (then the
    earliest), and recursively those left and right of it. A trailing extension joins the last group."""
    if not groups:
        return []
    best: tuple[int, int, int] | None = None  # (digits, i, j)
    n = len(groups)
    before = [0]  # digits in groups[:k]
    for a, b in groups:
        before.append(before[-1] + sum(c.isdigit() for c in text[a:b]))
    # After "+CC" / "00CC" the rest is not a national number of its own: trim only at the end.
    starts = range(1) if text[groups[0][0]] == "+" or text.startswith("00", groups[0][0]) else range(n)
    for i in starts:
        for j in range(n - 1, i - 1, -1):
            digits = before[j + 1] - before[i]
            if not _MIN_DIGITS <= digits <= _MAX_DIGITS or (best is not None and digits <= best[0]):
                continue
            if not _cut_ok(text, groups, i, j):
                continue
            core = text[groups[i][0] : groups[j][1]]
            intl = core.startswith("+") or core.startswith("00")
            if _shape_ok(core, intl, context or intl) and number_valid(core, regions):
                best = (digits, i, j)
    if best is None:
        return []
    _, i, j = best
    end = ext_end if j == n - 1 else groups[j][1]
    left = _best_in(text, groups[:i], regions, groups[i - 1][1] if i else 0, context)
    right = _best_in(text, groups[j + 1 :], regions, ext_end, context)
    return [*left, (groups[i][0], end), *right]


def _other_entity(text: str, s: int, groups: list[tuple[int, int]], context: bool) -> bool:
    """A candidate that is wholly a card / account number (3+ groups of four digits) or, without a
    phone word, shaped like an IPv4 address ("256.256.256.256"): no phone hides inside it either."""
    if text[s] == "+" or text.startswith("00", s):
        return False  # "+CC" / "00CC": an international number (no card or IP starts so)
    if text[s] != "0" and sum(b - a == 4 and text[a].isdigit() for a, b in groups) >= 3:
        return True  # no card number starts with 0; national numbers with a trunk 0 do
    seps = {text[b] for _, b in groups[:-1]}
    return not context and len(groups) == 4 and seps == {"."} and all(b - a <= 3 for a, b in groups)


def phone_spans(
    text: str, windows: Iterable[tuple[int, int]], regions: tuple[str, ...] = DEFAULT_REGIONS
) -> list[tuple[int, int]]:
    """[start, end) of the valid phone numbers of ``text`` inside ``windows`` (ranges that hold every
    digit of the text with 8 characters of margin; ``[(0, len(text))]`` scans everything)."""
    out: list[tuple[int, int]] = []
    for lo, hi in windows:
        for m in _PHONE_RE.finditer(text, lo, hi):
            s, e = m.span()
            if e - s < _MIN_DIGITS:
                continue  # too short to hold 7 digits: most candidates of digit soup end here
            ext = _EXT_RE.search(m.group())
            core_end = s + ext.start() if ext is not None else e
            groups = [g.span() for g in _GROUP_RE.finditer(text, s, core_end)]
            word = _context(text, s)
            if _other_entity(text, s, groups, word):
                continue
            # An extension marks a phone as a phone word does (no house-number or bare-run doubt).
            out += _best_in(text, groups, ALL_REGIONS if word else regions, e, word or ext is not None)
    return out
