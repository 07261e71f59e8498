"""Normalization, blocklist terms (obfuscation-proof, on real data) and the URL blocklist."""

from __future__ import annotations

import pytest

from filters.normalize import normalize
from filters.terms import TermEntry, TermMatcher, default_matcher, load_default_entries
from filters.urls import UrlBlocklist

OBFUSCATIONS = {
    "plain": lambda w: w,
    "upper": lambda w: w.upper(),
    "mixed_case": lambda w: "".join(c.upper() if i % 2 else c for i, c in enumerate(w)),
    "zero_width": lambda w: "\u200b".join(w),
    "bidi": lambda w: w[0] + "\u202e" + w[1:] + "\u202c",
    "soft_hyphen": lambda w: "\u00ad".join(w),
    "fullwidth": lambda w: "".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" else c for c in w),
    "spaced": lambda w: " ".join(w),
    "dotted": lambda w: ".".join(w),
    "dashed": lambda w: "-".join(w),
    "homoglyph": lambda w: w.replace("o", "о").replace("c", "с").replace("a", "а").replace("e", "е"),
    "leet": lambda w: (
        w.replace("i", "1").replace("o", "0").replace("e", "3").replace("s", "$").replace("a", "@")
    ),
    "math_bold": lambda w: "".join(chr(0x1D41A + ord(c) - 97) if "a" <= c <= "z" else c for c in w),
}


@pytest.mark.parametrize("kind", sorted(OBFUSCATIONS))
@pytest.mark.parametrize(
    ("word", "category"),
    [("jailbait", "sexual_minors"), ("lolicon", "sexual_minors"), ("shithead", "profanity")],
)
def test_obfuscated_terms_are_caught_with_raw_spans(kind, word, category):
    """Every obfuscation of a blocked term matches, and the span covers exactly the obfuscated word."""
    obf = OBFUSCATIONS[kind](word)
    raw = f"Look at this: {obf}! ok"
    scores, spans = default_matcher().match(raw)
    assert scores[category] > 0, (kind, obf)
    hit = [s for s in spans if s.category == category]
    assert hit, (kind, obf)
    start = raw.index(obf)
    got = raw[hit[0].start : hit[0].end]
    # The span lands on the raw text: it starts at the obfuscated word and covers all its letters.
    assert hit[0].start == start, (kind, got)
    assert normalize(got).text.replace(" ", "").replace(".", "").replace("-", "") == word


def test_word_boundaries_and_clean_words_do_not_match():
    m = default_matcher()
    for text in [
        "a class on assumptions and passes",
        "the title of the document",
        "Scunthorpe analysis",
        "cocktail",
    ]:
        _, spans = m.match(text)
        assert not spans, (text, spans)
    # numbers stay numbers: leetspeak folds digits inside words with letters, and digits alone only inside a
    # run of leet (tests/test_leet_words.py)
    assert normalize("In 2019, 55 of 1,000 people").text == "in 2019, 55 of 1,000 people"
    assert normalize("sh1t").text == "shit"
    assert normalize("fuck!").text == "fuck!"


def test_normalize_offsets_map_back_to_raw():
    raw = "x \ufb01ne \u200bF U C K ｆｕｃｋ İz"
    n = normalize(raw)
    for i in range(len(n.text)):
        j = n.raw_index(i)
        assert 0 <= j < len(raw)
        # every normalized character comes from a raw character at or after the previous one
        if i:
            assert j >= n.raw_index(i - 1)
    s = n.text.index("fuck")
    assert raw[slice(*n.raw_span(s, s + 4))] == "F U C K"


def test_cjk_terms_match_without_word_boundaries():
    scores, spans = default_matcher().match("这是三级片的网站")
    assert scores["profanity"] > 0 and spans
    assert "这是三级片的网站"[spans[0].start : spans[0].end] == "三级片"


def test_russian_words_are_not_folded_to_latin():
    # A real Russian word made of lookalike letters must not turn into the English term it resembles.
    n = normalize("Сок и соск")
    assert n.text == "сок и соск"
    # but a mixed-script token is folded
    assert normalize("сunt").text == "cunt"


def test_every_ldnoobw_language_list_is_loaded_and_matches(shared_data):
    """Each LDNOOBW language file's terms are found in a sentence, through the one automaton."""
    entries = load_default_entries()
    langs = {e.source for e in entries if e.source.startswith("ldnoobw:")}
    assert len(langs) == 28
    m = default_matcher()
    missed = []
    for path in sorted((shared_data / "toxicity" / "ldnoobw_badwords").glob("*.txt")):
        terms = [t.strip() for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
        loaded = {e.term for e in entries if e.source == f"ldnoobw:{path.stem}"}
        for t in terms[:40]:
            if t not in loaded:
                continue
            _, spans = m.match(f"well, {t} is here")
            if not spans:
                missed.append((path.stem, t))
    assert not missed, missed[:20]


def test_curated_categories_on_real_and_written_text(shared_data):
    m = default_matcher()
    cases = {
        "hate": "They chanted gas the jews at the rally.",
        "harassment": "Nobody cares, just go kill yourself.",
        "sexual_minors": "He was sharing child porn in the chat.",
        "violence": "I will kill you and your whole family.",
        "self_harm": "I keep thinking about the best way to commit suicide.",
        "illicit": "Here is how to cook meth in a trailer.",
        "spam": "Click here! Buy now! Limited time offer, 100% free, act now, cheap viagra!",
        "profanity": "What the fuck is this shit.",
        "sexual": "free porn videos, hardcore porn, xxx",
    }
    for cat, text in cases.items():
        scores, _ = m.match(text)
        assert scores[cat] >= 0.5, (cat, scores)
    # Davidson tweets labelled hate speech by the coders hit the hate lists far more often than
    # tweets labelled "neither".
    import csv

    with open(shared_data / "toxicity" / "davidson_labeled_data.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    hate = [r["tweet"] for r in rows if r["class"] == "0"][:600]
    neither = [r["tweet"] for r in rows if r["class"] == "2"][:600]
    rate = lambda xs: sum(m.match(t)[0]["hate"] > 0 for t in xs) / len(xs)  # noqa: E731
    assert rate(hate) > 0.3
    assert rate(neither) < 0.05


def test_low_flag_rate_on_clean_wikitext(shared_data):
    text = (shared_data / "clean_text" / "wikitext2_valid.txt").read_text(encoding="utf-8")
    paras = [p for p in text.split("\n") if len(p) > 200]
    assert len(paras) > 1000
    m = default_matcher()
    fired = 0
    for p in paras:
        scores, _ = m.match(p)
        if any(
            scores[c] >= 0.5
            for c in ("hate", "harassment", "sexual_minors", "violence", "self_harm", "illicit")
        ):
            fired += 1
    # Wikipedia articles about wars and crimes exist; blocking-category hits must stay rare.
    assert fired / len(paras) < 0.01, fired


def test_matcher_weights_and_score_formula():
    m = TermMatcher([TermEntry("foo", "spam", 0.5, "t"), TermEntry("bar baz", "spam", 1.0, "t")])
    scores, spans = m.match("foo and bar baz and FOO")
    assert len(spans) == 3
    import math

    assert scores["spam"] == pytest.approx(1 - math.exp(-2.0))


def test_url_blocklist_matches_datatrove_semantics(shared_data):
    from datatrove.pipeline.filters import url_filter as dt

    lists = shared_data / "toxicity" / "datatrove_url_filter_words"

    def read(name):
        return dt.parse_list((lists / name).read_text().splitlines())

    banned, soft, sub = read("banned_words.txt"), read("soft_banned_words.txt"), read("banned_subwords.txt")

    def reference(url: str) -> bool:  # datatrove URLFilter.filter, word-list part
        words = set(dt.normalizer.split(url))
        if any(w in words for w in banned):
            return True
        if sum(w in words for w in soft) >= 2:
            return True
        n = dt.normalize(url)
        return any(s in n for s in sub)

    ub = UrlBlocklist(domains=["bad.example"])
    urls = [
        "https://en.wikipedia.org/wiki/Cat",
        "https://example.com/blowjob/video",
        "https://example.com/sexy-lingerie",
        "https://example.com/sexy-cat",
        "https://example.com/big-tits-here",
        "https://news.example.org/2024/05/escort-ship-naval",
        "https://shop.example.com/class/assignments",
        "http://www.bigtitsxx.com/x",
    ]
    for u in urls:
        assert bool(ub.reason(u)) == reference(u), u
    assert ub.reason("https://cdn.bad.example/a") == "domain"
    assert ub.reason("https://notbad.example/a") == ""
    assert ub.reason(None) == "" and ub.reason("") == ""


def test_spaced_run_gate_never_skips_a_run():
    """The cheap pre-scan finds every text the full spaced-letters scan matches, and scanning from
    just before it gives the same runs (exhaustive over short strings of letters and separators)."""
    import random

    from filters import normalize as nz

    rng = random.Random(0)
    alphabet = "ab c.-_*·•/ é1\n"
    for _ in range(30_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        full = [m.span() for m in nz._SPACED_RE.finditer(text)]
        gate = nz._SPACED_GATE_RE.search(text)
        fast = (
            [] if gate is None else [m.span() for m in nz._SPACED_RE.finditer(text, max(0, gate.start() - 2))]
        )
        assert fast == full, repr(text)


def test_terms_match_overlapping_and_on_word_boundaries():
    m = TermMatcher(
        [
            TermEntry("ass", "profanity", 1.0, "t"),
            TermEntry("asshole", "profanity", 1.0, "t"),
            TermEntry("hole", "profanity", 1.0, "t"),
        ]
    )
    _, spans = m.match("class asshole, ass hole")
    assert [(s.start, s.end) for s in spans] == [(6, 13), (15, 18), (19, 23)]
    _, spans = m.match("\ud800 ass")  # a lone surrogate keeps the offsets
    assert [(s.start, s.end) for s in spans] == [(2, 5)]


@pytest.mark.parametrize(
    "text, word",
    [
        ("what the FUUUUCK is this", "FUUUUCK"),
        ("well shiiiiit.", "shiiiiit"),
        ("fuckkkk you", "fuckkkk"),
        ("nice boooobs", "boooobs"),  # a term with double letters, matched squeezed
        ("xxx movies", "xxx"),  # a term with a tripled letter
        ("XXXX movies", "XXXX"),
    ],
)
def test_elongated_words_match_with_raw_spans(text, word):
    _, spans = default_matcher().match(text)
    assert [text[s.start : s.end] for s in spans] == [word]


@pytest.mark.parametrize(
    "text", ["as we said", "x marks the spot", "a class book", "Coooool! Sooo good, yesss", "assess it"]
)
def test_elongation_and_double_letters_do_not_invent_terms(text):
    assert default_matcher().match(text)[1] == []


def test_elongation_squeezes_only_words_with_a_tripled_letter():
    n = normalize("Class book, fuuuuck!! iii 777 \u0430\u0430\u0430")
    assert n.text == "class book, fuck!! i 777 \u0430"
    assert [n.raw[slice(*n.raw_span(s, e))] for s, e in n.squeezed] == [
        "fuuuuck",
        "iii",
        "\u0430\u0430\u0430",
    ]


def test_language_specific_lists_need_their_language():
    m = default_matcher()
    text = "we met at the cu"  # "cu": Portuguese-list profanity, an ordinary token in English
    assert [s.label for s in m.match(text, "en")[1]] == []
    assert [s.label for s in m.match(text, "pt")[1]] == ["ldnoobw:pt"]
    assert [s.label for s in m.match(text, None)[1]] == ["ldnoobw:pt"]  # language unknown: every list
    assert [s.label for s in m.match("fuck off", "de")[1]]  # the English list counts everywhere


def test_innocent_phrases_silence_only_their_own_hits():
    from filters.terms import load_innocent_phrases

    plain = TermMatcher(load_default_entries())
    m = default_matcher()
    for phrase in load_innocent_phrases():
        assert plain.match(phrase)[1], phrase  # each phrase holds a listed term ...
        assert m.match(f"And then {phrase}.")[1] == [], phrase  # ... that it silences
    text = "It was tit for tat. Then she showed her tits."
    assert [text[s.start : s.end] for s in m.match(text)[1]] == ["tits"]  # outside the phrase it counts


def test_sense_words_nearby_silence_an_ambiguous_term(shared_data):
    """ "Pussy" in a Gutenberg book about cats is a cat; with no cat nearby it counts."""
    m = default_matcher()
    book = (shared_data / "clean_text/gutenberg/43790-0.txt").read_text(encoding="utf-8")
    plain = TermMatcher(load_default_entries())
    assert sum(s.category == "sexual" for s in plain.match(book)[1]) >= 40  # measured 57
    assert sum(s.category == "sexual" for s in m.match(book)[1]) <= 8  # measured 4
    assert [s.category for s in m.match("show me your pussy")[1]] == ["sexual"]
    far = "pussy " + "and so on " * 60 + "cat"  # the sense word is out of reach
    assert [s.category for s in m.match(far)[1]] == ["sexual"]


def test_a_sense_word_counts_only_as_a_whole_word_at_the_window_edge():
    """The sense search stops SENSE_WINDOW characters after the hit, but a word cut there ("court" of
    "courtship") is not the sense word; a whole one ending at the edge, or starting at the left edge, is."""
    from filters.terms import SENSE_WINDOW

    m = TermMatcher([TermEntry("zorb", "violence", 1.0, "test")], senses={"zorb": ["court"]})

    def filler(n: int) -> str:  # n characters of words that normalize to themselves: offsets stay raw
        text = ("and so on " * 60)[: n - 1] + "x"
        assert normalize(text).text == text
        return text

    def after(word: str, gap: int) -> str:  # `word` starts `gap` characters after the hit's end
        return "zorb " + filler(gap - 2) + " " + word

    edge = SENSE_WINDOW - len("court")  # "court" starting here ends exactly at the window's edge
    assert m.match(after("court is", edge))[1] == []  # a whole sense word ending at the edge cancels
    assert [s.category for s in m.match(after("courtship", edge))[1]] == ["violence"]  # a cut one does not
    assert [s.category for s in m.match(after("court", edge + 1))[1]] == ["violence"]  # beyond the edge
    before = "court " + filler(SENSE_WINDOW - len("court ") - 1) + " zorb"  # starts exactly at the left edge
    assert m.match(before)[1] == []
    assert [s.category for s in m.match("x" + before)[1]] == ["violence"]  # "xcourt" is no sense word


LEAFLET = (
    "Pelvic organ prolapse happens when the bladder, rectum or uterus drops into the vagina. The rectum can "
    "bulge into the back wall of the vagina; a pessary placed in the vagina supports it."
)


CLINICAL_TERMS = (
    "anal",
    "anus",
    "rectum",
    "vagina",
    "vulva",
    "penis",
    "clitoris",
    "genitals",
    "semen",
    "ejaculation",
    "fecal",
)


def test_anatomy_in_a_clinical_text_is_not_sexual():
    """LDNOOBW's anatomical words near a clinical word ("bladder", "uterus") keep their clinical sense
    (SHIP_RULE-2026-12-07-clinical-senses.md); without one nearby they count as listed."""
    from filters.terms import load_senses

    plain = TermMatcher(load_default_entries())
    m = default_matcher()
    assert plain.match(LEAFLET)[0]["sexual"] >= 0.65  # five LDNOOBW hits, without the senses
    assert m.match(LEAFLET)[0]["sexual"] == 0.0
    senses = load_senses()
    assert len({tuple(senses[t]) for t in CLINICAL_TERMS}) == 1  # one clinical sense, the same for each word
    for term in CLINICAL_TERMS:
        three = f"{term}, {term} and {term}"
        assert m.match(three)[0]["sexual"] >= 0.65, term
        assert m.match(f"{three}: symptoms and treatment")[0]["sexual"] == 0.0, term
    explicit = "Rub your penis against her vagina, then her anus; I want to see your semen."
    assert m.match(explicit)[0]["sexual"] >= 0.65
    far = explicit + " and so on" * 60 + " The bladder."  # the clinical word is out of reach
    assert m.match(far)[0]["sexual"] >= 0.65


def test_sex_alone_is_an_ordinary_word_but_its_phrases_count():
    """The word "sex" joins "sexual", "sexuality" and "sexually" in the allowlist: same-sex marriage and a sex
    chromosome are not sexual content; LDNOOBW's and the curated phrases that hold it still count."""
    from filters.terms import DATA_DIR

    assert "sex" in (DATA_DIR / "ldnoobw/en.txt").read_text(encoding="utf-8").splitlines()
    m = default_matcher()
    assert m.match("same-sex marriage, same-sex couples and the sex chromosomes of each sex")[1] == []
    for phrase in ("phone sex", "group sex", "sex tape", "anal sex"):
        assert {s.category for s in m.match(f"look: {phrase}")[1]} == {"sexual"}, phrase
    assert "sexual_minors" in {s.category for s in m.match("sex with a minor")[1]}


def test_rule_detectors_pickle():
    """Detectors travel to Ray actors and worker processes; the automata are rebuilt on arrival."""
    import pickle

    from filters.pii import PIIDetector
    from filters.terms import TermsDetector

    terms = pickle.loads(pickle.dumps(TermsDetector()))
    assert terms.detect_batch(["fuuuck you"], langs=["en"])[0].scores["profanity"] > 0
    urls = pickle.loads(pickle.dumps(UrlBlocklist()))
    assert urls.reason("https://example.com/porn-videos") != "" and urls.reason("https://example.com/") == ""
    pii = pickle.loads(pickle.dumps(PIIDetector()))
    assert pii.detect_batch(["mail jo@ex.com, key AKIAABCDEFGHIJKLMNOP"])[0].scores == {
        "pii": 1.0,
        "secrets": 1.0,
    }


@pytest.mark.parametrize(
    "text, phrase",
    [
        ("kill  yourself", "kill  yourself"),  # two spaces
        ("just kill\nyourself", "kill\nyourself"),  # a line break
        ("how to make a\u3000pipe bomb", "how to make a\u3000pipe bomb"),  # an ideographic space
    ],
)
def test_whitespace_runs_do_not_break_multiword_terms(text, phrase):
    spans = default_matcher().match(text)[1]
    assert phrase in {text[s.start : s.end] for s in spans}


def test_spaced_word_after_a_one_letter_word():
    """ "u f a g g o t" collapses to "ufaggot": the term ending the run one letter in still counts."""
    m = default_matcher()
    text = "yea u stupid f a g g o t. ok"
    assert [(s.category, text[s.start : s.end]) for s in m.match(text)[1]] == [("hate", "f a g g o t")]
    assert m.match("S.P.I.C.E. girls")[1] == []  # a term inside a spelled-out word does not


def test_whitespace_collapse_equals_split_join_with_exact_offsets():
    import random

    from filters.normalize import _collapse_whitespace

    rng = random.Random(0)
    alphabet = ["a", "b", " ", "\n", "\t", "\u3000", "\x85", "\xa0", "\u2028", "\U0001f600", "\ud800"]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        out, offsets = _collapse_whitespace(text)
        assert out == " ".join(text.split()), repr(text)
        if offsets is None:
            assert len(out) == len(text)
        else:
            assert len(offsets) == len(out)
            assert all(
                text[i] == c or (c == " " and text[i].isspace()) for c, i in zip(out, offsets, strict=True)
            )


def test_match_window_counts_only_hits_starting_inside_with_the_context_around():
    """The stream guard scans part of a longer text: hits outside the window are context only, and the
    innocent-sense words around it still cancel a hit inside."""
    m = default_matcher()
    text = "the cat sat. porn then pussy and porn"
    _, whole = m.match(text)
    start = text.index("then")
    _, inside = m.match(text, window=(start, len(text)))
    assert [s for s in whole if s.start >= start] == inside and inside
    assert all(s.start >= start for s in inside)
    assert not any(text[s.start : s.end] == "pussy" for s in inside)  # "cat" before the window counts
    _, alone = m.match(text[start:])
    assert any(text[start:][s.start : s.end] == "pussy" for s in alone)  # without it the hit counts
    scores, _ = m.match(text, window=(0, 0))
    assert all(v == 0.0 for v in scores.values())


def test_a_term_that_is_also_a_name_counts_only_where_it_is_not_the_name():
    """senses.tsv marks "dick" with <name>: a Title-case use inside a sentence, or before another
    Title-case word, is the name; lower case, all capitals or a sentence's lone first word still count."""
    from filters.terms import TermsDetector

    det = TermsDetector()

    def hits(text: str) -> list[str]:
        return [text[s.start : s.end] for s in det.detect_batch([text])[0].spans if s.category == "profanity"]

    assert hits("Then Dick went to the store with his sister.") == []
    assert hits('He said, "Dick, come here."') == []
    assert hits("Dick Cheney spoke first.") == []
    assert hits("You are such a dick.") == ["dick"]
    assert hits("DICK!") == ["DICK"]
    assert hits("Dick. That is what you are.") == ["Dick"]  # opens a sentence, no name after it
