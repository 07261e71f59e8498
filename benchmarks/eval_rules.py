"""Quality of the rule detectors: PII per entity type, obfuscation robustness, terms false positives.

    .venv/bin/python -m benchmarks.eval_rules [--tweets 600] [--clean-docs 600]

1. PII on the Presidio synthetic set (../shared/data/pii/presidio_synth_dataset_v2.json): per entity
   type we detect, precision/recall/F1 with span-exact and with overlap matching (a prediction counts
   as a false positive for its type unless it matches a gold span of that type). Types the set labels
   but regex PII does not detect (PERSON, STREET_ADDRESS, ...) are listed with their counts: they
   need an NER model and are out of scope of regex PII. IN-SAMPLE: the rules were written and tuned
   on this set; the held-out PII figures are benchmarks/eval_pii_heldout.py and eval_phones.py.
2. Obfuscation: Davidson hate tweets that the plain text blocks; the matched blocklist words are
   rewritten and the detection rate is compared side by side with the plain text, for the rules
   alone (the same category still fires) and for the whole shipped policy in runtime mode (still
   blocked by a harm category: terms or classifiers, every detector scoring every text). Runtime,
   because in pre-training mode a classifier hit only flags and a tweet the language or quality step
   drops is not scored further (`skip_dropped_in`), so that mode measured the rules alone. The harm
   classifier's fast tier trained on Davidson tweets: the whole-policy column is in-sample for it.
   Two groups of rows: the transforms the normalizer implements (homoglyphs, zero-width,
   leetspeak, spacing, dots, fullwidth, mixed case, elongation: high by construction), and
   transforms written for this evaluation only (other lookalike tables, multi-character leet,
   other separators, masked vowels, combining marks, a 50% mix, and eval_harm.py's transforms):
   the held-out figure.
3. Terms false-positive rate on clean text: ~4 KB documents of clean_text paragraphs; the share of
   documents where a terms category fires, per category, and where that would drop the document
   (the rule detectors with each document's language known, as in the pipeline). IN-SAMPLE: the
   allowlist, innocent phrases and sense words were written from these texts' false positives.
   The held-out figure is the same measurement on the 181 news article bodies of
   web/article_extraction_benchmark (see news_bodies), with term hits before / after curation.
4. Innocent senses: term hits with and without them on Davidson tweets and the two cat books
   (IN-SAMPLE for the books: the phrases and sense words were written from their hits).
5. Other languages' LDNOOBW lists on 75 languages' sentences: how often a list of another language
   fires with every list counting and with lists scoped to their language (lid.176). The scoping
   has no tuned parameter; the allowlist's other-language entries predate this evaluation.
Markdown tables on stdout, figures in benchmarks/results/eval_rules.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import json
import os
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from benchmarks.machine import SHARED_DATA, positive_int, shared_data_missing

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
DATA = SHARED_DATA
OUT = REPO / "benchmarks" / "results"
# What the evaluation reads from the shared data folder, checked before any work (the first is read first).
NEEDS = (
    "pii/presidio_synth_dataset_v2.json",
    "toxicity/davidson_labeled_data.csv",
    "web/article_extraction_benchmark/ground-truth.json",
    "langid/lingua_sentences_75lang_250each.tsv",
    "clean_text/gutenberg",
)
HARM = ("hate", "harassment", "sexual", "sexual_minors", "violence", "self_harm", "illicit", "profanity")


def _prf(tp_pred: int, n_pred: int, tp_gold: int, n_gold: int) -> dict[str, float]:
    p = tp_pred / n_pred if n_pred else 0.0
    r = tp_gold / n_gold if n_gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def count_spans(c: Counter, gold: list[tuple[int, int]], pred: list[tuple[int, int]]) -> None:
    """Add one text's gold and predicted spans of one type: counts, exact and overlapping matches."""
    c["gold"] += len(gold)
    c["pred"] += len(pred)
    c["exact_gold"] += sum(x in pred for x in gold)
    c["exact_pred"] += sum(x in gold for x in pred)
    c["ovl_gold"] += sum(any(s < pe and ps < e for ps, pe in pred) for s, e in gold)
    c["ovl_pred"] += sum(any(s < ge and gs < e for gs, ge in gold) for s, e in pred)


def eval_pii() -> dict:
    from filters.pii import PRESIDIO_TYPES, find_pii

    data = json.loads((DATA / "pii/presidio_synth_dataset_v2.json").read_text(encoding="utf-8"))
    ours = {v: k for k, v in PRESIDIO_TYPES.items()}
    counts = {t: Counter() for t in PRESIDIO_TYPES.values()}
    not_detected: Counter = Counter()
    for rec in data:
        text = rec["full_text"]
        gold = [(s["start_position"], s["end_position"], s["entity_type"]) for s in rec["spans"]]
        for _, _, t in gold:
            if t not in PRESIDIO_TYPES:
                not_detected[t] += 1
        pred = [(m.start, m.end, m.type) for m in find_pii(text) if m.type in ours]
        for t in counts:
            g = [(s, e) for s, e, gt in gold if PRESIDIO_TYPES.get(gt) == t]
            pr = [(s, e) for s, e, pt in pred if pt == t]
            count_spans(counts[t], g, pr)
    rows = {}
    for t, c in counts.items():
        rows[ours[t]] = {
            "gold": c["gold"],
            "predicted": c["pred"],
            "exact": _prf(c["exact_pred"], c["pred"], c["exact_gold"], c["gold"]),
            "overlap": _prf(c["ovl_pred"], c["pred"], c["ovl_gold"], c["gold"]),
        }
    return {"samples": len(data), "types": rows, "not_detected": dict(not_detected.most_common())}


# --- obfuscation ----------------------------------------------------------------------------------

_HOMO = {"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "y": "у", "i": "і"}
_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}


def _homoglyphs(w: str) -> str:
    # Every other replaceable letter, so the word mixes scripts (how lookalike attacks look).
    out, k = [], 0
    for ch in w:
        if ch.lower() in _HOMO:
            k += 1
            out.append(_HOMO[ch.lower()] if k % 2 else ch)
        else:
            out.append(ch)
    return "".join(out)


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "plain": lambda w: w,
    "homoglyphs": _homoglyphs,
    "zero_width": lambda w: "\u200b".join(w),
    "leetspeak": lambda w: "".join(_LEET.get(c.lower(), c) for c in w),
    "spacing": lambda w: " ".join(w),
    "dots": lambda w: ".".join(w),
    "fullwidth": lambda w: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in w),
    "mixed_case": lambda w: "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(w)),
    "elongated": lambda w: _elongate(w),
}


def _elongate(w: str) -> str:
    """The word's first vowel (else its last letter) written four times: "fuck" -> "fuuuuck"."""
    k = next((i for i, c in enumerate(w) if c.lower() in "aeiou"), len(w) - 1)
    return w[: k + 1] + w[k] * 3 + w[k + 1 :]


# Transforms written for this evaluation, NOT taken from filters/normalize.py: other lookalike
# tables, other leet symbols (several characters a letter), separators the normalizer does not list,
# masked vowels, combining marks, and a mix of them at half of the characters. The normalizer was not
# changed after these rows were first measured (2026-12-03): they are the held-out obfuscation figure.
# Each letter -> lookalikes from Unicode's confusable characters (Greek, Cyrillic, Armenian, Latin
# small capitals and IPA), chosen for this table.
_OTHER_HOMO = {
    "a": "αа",
    "c": "ϲᴄ",
    "d": "ԁ",
    "e": "ҽе",
    "g": "ɡ",
    "h": "һ",
    "i": "ιі",
    "k": "κ",
    "l": "ӏ",
    "n": "ոռ",
    "o": "οօ",
    "p": "ρр",
    "q": "ԛ",
    "r": "г",
    "s": "ѕꜱ",
    "u": "υս",
    "v": "νѵ",
    "w": "ԝѡ",
    "x": "х",
    "y": "үу",
}
_MULTI_LEET = {
    "a": "/\\",
    "b": "|3",
    "c": "(",
    "d": "|)",
    "e": "€",
    "g": "6",
    "h": "#",
    "i": "!",
    "k": "|<",
    "l": "|_",
    "o": "()",
    "s": "§",
    "t": "+",
    "u": "|_|",
    "x": "><",
}
_EVAL_SEPARATORS = "-_~+'|,:"
_COMBINING = "\u0301\u0308\u0336\u0332"


def _wrng(word: str, name: str) -> random.Random:
    """A generator seeded by the word and the transform: the same rewrite on every run."""
    return random.Random(hashlib.sha256(f"{name}\x00{word}".encode()).digest())


def _other_homoglyphs(w: str) -> str:
    rng = _wrng(w, "other_homoglyphs")
    return "".join(rng.choice(_OTHER_HOMO[c.lower()]) if c.lower() in _OTHER_HOMO else c for c in w)


def _multi_leet(w: str) -> str:
    rng = _wrng(w, "multi_leet")
    return "".join(
        _MULTI_LEET[c.lower()] if c.lower() in _MULTI_LEET and rng.random() < 0.5 else c for c in w
    )


def _separators(w: str) -> str:
    rng = _wrng(w, "separators")
    return "".join(c + (rng.choice(_EVAL_SEPARATORS) if i + 1 < len(w) else "") for i, c in enumerate(w))


def _masked_vowel(w: str) -> str:
    k = next((i for i, c in enumerate(w) if c.lower() in "aeiou" and 0 < i < len(w) - 1), None)
    return w if k is None else w[:k] + "*" + w[k + 1 :]


def _combining(w: str) -> str:
    rng = _wrng(w, "combining")
    return "".join(c + rng.choice(_COMBINING) if c.isalpha() and rng.random() < 0.5 else c for c in w)


def _mixed(w: str) -> str:
    """Half of the characters get one eval-only transform each (drawn per character)."""
    rng = _wrng(w, "mixed")
    out = []
    for c in w:
        if rng.random() >= 0.5:
            out.append(c)
            continue
        kind = rng.randrange(5)
        low = c.lower()
        if kind == 0 and low in _OTHER_HOMO:
            out.append(rng.choice(_OTHER_HOMO[low]))
        elif kind == 1 and low in _MULTI_LEET:
            out.append(_MULTI_LEET[low])
        elif kind == 2:
            out.append(c + rng.choice("\u200b\u200c\u200d\u2060"))
        elif kind == 3:
            out.append(c + rng.choice(_EVAL_SEPARATORS))
        else:
            out.append(c + rng.choice(_COMBINING) if c.isalpha() else c)
    return "".join(out)


def _eval_harm_transforms() -> dict[str, Callable[[str], str]]:
    """benchmarks/eval_harm.py's eval-only transforms (each at half of the characters)."""
    from benchmarks import eval_harm

    return {f"eval_harm {k} (50%)": fn for k, fn in eval_harm.TRANSFORMS.items()}


EVAL_ONLY_TRANSFORMS: dict[str, Callable[[str], str]] = {
    "other lookalike table (every letter that has one)": _other_homoglyphs,
    "multi-character leet (50% of letters)": _multi_leet,
    "mixed separators - _ ~ + ' | , : between letters": _separators,
    "masked vowel (f*ck)": _masked_vowel,
    "combining marks (50% of letters)": _combining,
    "mixed eval-only transforms (50% of characters)": _mixed,
}


def _rewrite(text: str, spans: list[tuple[int, int]], fn: Callable[[str], str]) -> str:
    out, pos = [], 0
    for s, e in sorted(set(spans)):
        if s < pos:
            continue
        out += [text[pos:s], fn(text[s:e])]
        pos = e
    return "".join(out) + text[pos:]


def eval_obfuscation(n_tweets: int) -> dict:
    from benchmarks.filter_speed import rules_filter
    from filters import Filter, Policy
    from filters.policy import ACTION_RANK

    rules = rules_filter()
    full = Filter(Policy.load(REPO / "configs/policy.yaml"), mode="runtime")
    with open(DATA / "toxicity/davidson_labeled_data.csv", encoding="utf-8") as f:
        tweets = [r["tweet"] for r in csv.DictReader(f) if r["class"] == "0"][:n_tweets]
    plain = rules.check_batch(tweets)
    # Tweets the rules block (a harm category with action drop fired on a term span).
    cases = []
    for t, v in zip(tweets, plain, strict=True):
        cats = [c for c in v.fired if c in HARM and rules.categories[c].action == "drop"]
        spans = [(s, e) for c, s, e in v.spans if c in cats]
        if cats and spans:
            cases.append((t, set(cats), spans))
    out: dict = {"tweets": len(tweets), "blocked_plain_by_rules": len(cases), "rows": {}}
    full_plain = full.check_batch([c[0] for c in cases])

    def full_blocks(v) -> bool:
        return v.action == "drop" and any(
            c in HARM and ACTION_RANK[full.categories[c].action] >= ACTION_RANK["drop"] for c in v.fired
        )

    base = [full_blocks(v) for v in full_plain]

    def row(fn: Callable[[str], str]) -> dict[str, float]:
        texts = [_rewrite(t, spans, fn) for t, _, spans in cases]
        rv = rules.check_batch(texts)
        fv = full.check_batch(texts)
        rules_rate = sum(bool(cats & set(v.fired)) for (_, cats, _), v in zip(cases, rv, strict=True))
        full_rate = sum(full_blocks(v) for v, b in zip(fv, base, strict=True) if b)
        return {
            "rules_detection": rules_rate / len(cases) if cases else 0.0,
            "policy_detection": full_rate / sum(base) if sum(base) else 0.0,
        }

    # Transforms the normalizer implements: detection holds by construction.
    out["rows"] = {name: row(fn) for name, fn in TRANSFORMS.items()}
    # Transforms written for the evaluation only: the held-out obfuscation figure.
    out["eval_only_rows"] = {
        name: row(fn) for name, fn in {**EVAL_ONLY_TRANSFORMS, **_eval_harm_transforms()}.items()
    }
    out["blocked_plain_by_policy_harm"] = sum(base)
    out["policy_mode"] = "runtime"
    return out


def eval_terms_fp(n_docs: int) -> dict:
    from benchmarks.corpus import TextPools
    from benchmarks.filter_speed import rules_filter

    pools = TextPools()
    rng = random.Random(0)
    docs = []
    for _ in range(n_docs):
        parts, size = [], 0
        while size < 4000:
            p = rng.choice(pools.paragraphs)
            parts.append(p)
            size += len(p) + 2
        docs.append("\n\n".join(parts))
    rules = rules_filter(with_language=True)  # other languages' term lists count only in their language
    vs = rules.check_batch(docs)
    fired = Counter(c for v in vs for c in v.fired if c in HARM or c == "spam")
    dropped = Counter(v.reason for v in vs if v.action == "drop")
    terms: Counter = Counter()
    for d, v in zip(docs, vs, strict=True):
        for (c, s, e), lab in zip(v.spans, v.labels, strict=True):
            if c in HARM or c == "spam":
                terms[f"{c}:{d[s:e].lower()} ({lab})"] += 1
    return {
        "docs": len(docs),
        "avg_chars": sum(map(len, docs)) / len(docs),
        "fired_rate": {c: n / len(docs) for c, n in fired.most_common()},
        "drop_rate": sum(dropped.values()) / len(docs),
        "drop_reasons": dict(dropped.most_common()),
        "top_terms": dict(terms.most_common(15)),
    }


def news_bodies() -> list[str]:
    """The held-out clean text for the term lists: the 181 human-annotated article bodies of
    web/article_extraction_benchmark (news and blogs). Chosen before measuring, because the lists'
    curation (allowlist.txt, innocent.txt, senses.tsv; `git log -p filters/data/terms/`) was done on
    clean_text (Gutenberg, WikiText, TinyStories and Shakespeare paragraphs in eval_terms_fp's pool)
    and Davidson tweets, never on these articles. Not changed to improve the figure it gives."""
    gt = json.loads((DATA / "web/article_extraction_benchmark/ground-truth.json").read_text(encoding="utf-8"))
    return [gt[k]["articleBody"] for k in sorted(gt)]


def _uncurated_matcher():
    """Every LDNOOBW entry (an empty allowlist), no innocent phrases or sense words: the lists
    before their clean-text curation, for the before/after comparison on held-out text."""
    import tempfile

    from filters.terms import DATA_DIR, TermMatcher, load_default_entries

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "terms").mkdir()
        (root / "ldnoobw").symlink_to(DATA_DIR / "ldnoobw")
        for f in (DATA_DIR / "terms").iterdir():
            if f.name != "allowlist.txt":
                (root / "terms" / f.name).symlink_to(f)
        (root / "terms" / "allowlist.txt").write_text("", encoding="utf-8")
        return TermMatcher(load_default_entries(root))


def term_hits(docs: list[str], langs: list[str | None]) -> dict:
    """Harm/spam term hits and documents with one, for the uncurated lists counted in every
    language, and for the shipped lists with each document's language (as the pipeline runs)."""
    from filters.terms import default_matcher

    configs = {
        "uncurated lists, every language's list": (_uncurated_matcher(), False),
        "shipped lists (allowlist, innocent senses, language scoping)": (default_matcher(), True),
    }
    out = {}
    for name, (m, scoped) in configs.items():
        hits = docs_hit = 0
        terms: Counter = Counter()
        for d, lang in zip(docs, langs, strict=True):
            spans = [
                x
                for x in m.match(d, lang if scoped else None)[1]
                if x.category in HARM or x.category == "spam"
            ]
            hits += len(spans)
            docs_hit += bool(spans)
            terms.update(f"{x.category}:{d[x.start : x.end].lower()}" for x in spans)
        out[name] = {
            "hits": hits,
            "docs_with_hit": docs_hit / len(docs),
            "top_terms": dict(terms.most_common(10)),
        }
    return out


def eval_terms_heldout() -> dict:
    """The shipped rules (language from lid.176) on held-out clean text: drop and fire rates, and
    term hits before / after the lists' curation."""
    from benchmarks.filter_speed import rules_filter
    from filters.detectors.langid import LangIdDetector

    docs = news_bodies()
    vs = rules_filter(with_language=True).check_batch(docs)
    fired = Counter(c for v in vs for c in v.fired if c in HARM or c == "spam")
    dropped = Counter(v.reason for v in vs if v.action == "drop")
    langs = [r.labels["lang"] for r in LangIdDetector().detect_batch(docs)]
    # What dropped each dropped article (a reader can judge whether news on abuse should go).
    dropped_terms: Counter = Counter()
    for d, v in zip(docs, vs, strict=True):
        if v.action == "drop":
            dropped_terms.update({f"{c}:{d[s:e].lower()}" for c, s, e in v.spans if c in HARM or c == "spam"})
    return {
        "source": "web/article_extraction_benchmark/ground-truth.json articleBody",
        "docs": len(docs),
        "avg_chars": sum(map(len, docs)) / len(docs),
        "drop_rate": sum(dropped.values()) / len(docs),
        "drop_reasons": dict(dropped.most_common()),
        "fired_rate": {c: n / len(docs) for c, n in fired.most_common()},
        "terms_in_dropped_docs": dict(dropped_terms.most_common()),
        "term_hits": term_hits(docs, langs),
    }


def eval_language_lists(per_lang: int) -> dict:
    """Non-English LDNOOBW lists on other languages' sentences: how often a list of another language
    fires when every list counts (language unknown) and when lists count only in their own language
    (the language from lid.176, as the pipeline runs it); and how often a language's own list still
    fires on its sentences (the hits scoping must keep)."""
    from filters.detectors.langid import LangIdDetector
    from filters.terms import default_matcher

    matcher = default_matcher()
    with open(DATA / "langid/lingua_sentences_75lang_250each.tsv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t")]
    by_lang: dict[str, list[str]] = {}
    for r in rows:
        if len(by_lang.setdefault(r["lang"], [])) < per_lang:
            by_lang[r["lang"]].append(r["text"])
    sentences = [(lang, t) for lang, ts in sorted(by_lang.items()) for t in ts]
    detected = [r.labels["lang"] for r in LangIdDetector().detect_batch([t for _, t in sentences])]

    def list_hits(text: str, lang: str | None) -> set[str]:
        spans = matcher.match(text, lang)[1]
        return {
            s.label.split(":", 1)[1]
            for s in spans
            if s.label.startswith("ldnoobw:") and s.label != "ldnoobw:en"
        }

    own_lists = {"tl": "fil"}
    other_unscoped = other_scoped = own_unscoped = own_scoped = 0
    for (lang, text), found in zip(sentences, detected, strict=True):
        own = own_lists.get(lang, lang)
        unscoped, scoped = list_hits(text, None), list_hits(text, found)
        other_unscoped += bool(unscoped - {own})
        other_scoped += bool(scoped - {own})
        own_unscoped += own in unscoped
        own_scoped += own in scoped
    n = len(sentences)
    return {
        "sentences": n,
        "languages": len(by_lang),
        "other_language_list_fires": {
            "every list": other_unscoped / n,
            "own language only": other_scoped / n,
        },
        "own_language_list_fires": {"every list": own_unscoped, "own language only": own_scoped},
    }


def eval_context_cost() -> dict:
    """What the innocent-sense rules (terms/innocent.txt, terms/senses.tsv) cost and save: term hits
    with and without them on all Davidson tweets (abusive, hits should stay) and on the two
    Gutenberg books about cats ("Pussy" is the cat)."""
    from filters.terms import TermMatcher, default_matcher, load_default_entries

    plain, ctx = TermMatcher(load_default_entries()), default_matcher()
    with open(DATA / "toxicity/davidson_labeled_data.csv", encoding="utf-8") as f:
        tweets = [r["tweet"] for r in csv.DictReader(f)]
    books = [
        (DATA / "clean_text/gutenberg" / n).read_text(encoding="utf-8")
        for n in ("43429-0.txt", "43790-0.txt")
    ]

    def hits(m, texts: list[str]) -> int:
        return sum(len(m.match(t)[1]) for t in texts)

    return {
        "davidson_tweets": len(tweets),
        "davidson_hits": {"plain": hits(plain, tweets), "with senses": hits(ctx, tweets)},
        "cat_book_hits": {"plain": hits(plain, books), "with senses": hits(ctx, books)},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tweets", type=positive_int, default=600, help="Davidson hate tweets for obfuscation")
    ap.add_argument(
        "--clean-docs", type=positive_int, default=600, help="~4 KB clean documents for terms FPR"
    )
    ap.add_argument("--lang-sentences", type=positive_int, default=250, help="sentences per language")
    args = ap.parse_args(argv)
    if any(shared_data_missing(DATA, need) for need in NEEDS):
        return 2
    res = {"date": datetime.date.today().isoformat(), "nproc": os.cpu_count()}
    res["pii"] = pii = eval_pii()
    print(f"# rule detector evaluation ({res['date']})\n")
    pii["in_sample"] = True
    print(
        f"## PII on Presidio synth v2, IN-SAMPLE ({pii['samples']} samples; the rules were written and tuned on "
        "this set: held-out figures come from benchmarks/eval_pii_heldout.py and eval_phones.py)\n"
    )
    print("| type | gold | predicted | exact P | exact R | exact F1 | overlap P | overlap R | overlap F1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t, r in pii["types"].items():
        e, o = r["exact"], r["overlap"]
        print(
            f"| {t} | {r['gold']} | {r['predicted']} | {e['precision']:.3f} | {e['recall']:.3f} | {e['f1']:.3f} "
            f"| {o['precision']:.3f} | {o['recall']:.3f} | {o['f1']:.3f} |"
        )
    nd = ", ".join(f"{k} ({v})" for k, v in pii["not_detected"].items())
    print(f"\nNot detected (out of scope of regex PII, need NER): {nd}\n")
    res["obfuscation"] = ob = eval_obfuscation(args.tweets)
    print(
        f"## Obfuscation robustness ({ob['blocked_plain_by_rules']} of {ob['tweets']} Davidson hate tweets "
        f"blocked by the rules in plain form; {ob['blocked_plain_by_policy_harm']} of those by the whole "
        "runtime policy's harm categories; its classifier trained on Davidson tweets: in-sample)\n"
    )
    print("Transforms the normalizer implements (by construction: the normalizer was written to undo them)\n")
    print("| rewrite of the blocked words | rules detection | whole runtime policy detection |")
    print("|---|---:|---:|")
    for name, r in ob["rows"].items():
        print(f"| {name} | {r['rules_detection']:.3f} | {r['policy_detection']:.3f} |")
    print("\nTransforms written for the evaluation only, not taken from filters/normalize.py (held out)\n")
    print("| rewrite of the blocked words | rules detection | whole runtime policy detection |")
    print("|---|---:|---:|")
    for name, r in ob["eval_only_rows"].items():
        cell = name.replace("|", "\\|")
        print(f"| {cell} | {r['rules_detection']:.3f} | {r['policy_detection']:.3f} |")
    res["terms_fp"] = fp = eval_terms_fp(args.clean_docs)
    fp["in_sample"] = True
    print(
        f"\n## Terms on clean text, IN-SAMPLE ({fp['docs']} docs of ~{fp['avg_chars']:.0f} chars; the "
        "allowlist, innocent phrases and sense words were written from these texts' false positives)\n"
    )
    print(f"drop rate (rules only): {fp['drop_rate']:.4f} {fp['drop_reasons']}\n")
    print("| category | documents where it fires |")
    print("|---|---:|")
    for c, r in fp["fired_rate"].items():
        print(f"| {c} | {r:.4f} |")
    print("\nmost frequent term hits: " + ", ".join(f"{k}: {v}" for k, v in fp["top_terms"].items()))
    res["terms_heldout"] = ho = eval_terms_heldout()
    print(
        f"\n## Terms on HELD-OUT clean text ({ho['docs']} news article bodies of ~{ho['avg_chars']:.0f} chars, "
        "never used to write the lists)\n"
    )
    print(f"drop rate (rules only): {ho['drop_rate']:.4f} {ho['drop_reasons']}")
    print(
        "terms in the dropped articles: "
        + ", ".join(f"{k} ({v})" for k, v in ho["terms_in_dropped_docs"].items())
    )
    print("fires: " + (", ".join(f"{c} {r:.4f}" for c, r in ho["fired_rate"].items()) or "none") + "\n")
    print("| term lists | harm/spam term hits | documents with a hit | most frequent |")
    print("|---|---:|---:|---|")
    for name, r in ho["term_hits"].items():
        top = ", ".join(f"{k} ({v})" for k, v in list(r["top_terms"].items())[:5])
        print(f"| {name} | {r['hits']} | {r['docs_with_hit']:.4f} | {top} |")
    res["context"] = cx = eval_context_cost()
    cx["in_sample"] = True
    print(
        "\n## Innocent senses, IN-SAMPLE (terms/innocent.txt phrases, terms/senses.tsv sense words; written "
        "from the cat books' and WikiText's hits)\n"
    )
    print("| text | term hits, plain | with the innocent-sense rules |")
    print("|---|---:|---:|")
    print(
        f"| Davidson tweets ({cx['davidson_tweets']:,}, abusive) | {cx['davidson_hits']['plain']:,} "
        f"| {cx['davidson_hits']['with senses']:,} |"
    )
    print(
        f"| two Gutenberg books about cats | {cx['cat_book_hits']['plain']:,} | {cx['cat_book_hits']['with senses']:,} |"
    )
    res["language_lists"] = ll = eval_language_lists(args.lang_sentences)
    print(
        f"\n## Other languages' LDNOOBW lists ({ll['sentences']} lingua sentences, {ll['languages']} "
        "languages, language from lid.176)\n"
    )
    print("| lists that count | sentences where another language's list fires | own-list hits kept |")
    print("|---|---:|---:|")
    for k in ("every list", "own language only"):
        print(f"| {k} | {ll['other_language_list_fires'][k]:.4f} | {ll['own_language_list_fires'][k]} |")
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / "eval_rules.json.tmp"
    tmp.write_text(json.dumps(res, indent=1, ensure_ascii=False))
    os.replace(tmp, OUT / "eval_rules.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
