"""Quality of the rule detectors: PII per entity type, obfuscation robustness, terms false positives.

    .venv/bin/python -m benchmarks.eval_rules [--tweets 600] [--clean-docs 600]

1. PII on the Presidio synthetic set (../shared/data/pii/presidio_synth_dataset_v2.json): per entity
   type we detect, precision/recall/F1 with span-exact and with overlap matching (a prediction counts
   as a false positive for its type unless it matches a gold span of that type). Types the set labels
   but regex PII does not detect (PERSON, STREET_ADDRESS, ...) are listed with their counts: they
   need an NER model and are out of scope of regex PII.
2. Obfuscation: Davidson hate tweets that the plain text blocks; the matched blocklist words are
   rewritten (homoglyphs, zero-width, leetspeak, spacing, dots, fullwidth, mixed case) and the
   detection rate is compared side by side with the plain text, for the rules alone (the same
   category still fires) and for the whole shipped policy (still dropped by a harm category).
3. Terms false-positive rate on clean text: ~4 KB documents of clean_text paragraphs; the share of
   documents where a terms category fires, per category, and where that would drop the document
   (the rule detectors with each document's language known, as in the pipeline).
4. Other languages' LDNOOBW lists on 75 languages' sentences: how often a list of another language
   fires with every list counting and with lists scoped to their language (lid.176).
Markdown tables on stdout, figures in benchmarks/out/eval_rules.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
OUT = REPO / "benchmarks" / "out"
HARM = ("hate", "harassment", "sexual", "sexual_minors", "violence", "self_harm", "illicit", "profanity")


def _prf(tp_pred: int, n_pred: int, tp_gold: int, n_gold: int) -> dict[str, float]:
    p = tp_pred / n_pred if n_pred else 0.0
    r = tp_gold / n_gold if n_gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


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
            c = counts[t]
            c["gold"] += len(g)
            c["pred"] += len(pr)
            c["exact_pred"] += sum(x in g for x in pr)
            c["exact_gold"] += sum(x in pr for x in g)
            c["ovl_pred"] += sum(any(s < ge and gs < e for gs, ge in g) for s, e in pr)
            c["ovl_gold"] += sum(any(s < pe and ps < e for ps, pe in pr) for s, e in g)
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
    full = Filter(Policy.load(REPO / "configs/policy.yaml"), mode="pretrain")
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
    for name, fn in TRANSFORMS.items():
        texts = [_rewrite(t, spans, fn) for t, _, spans in cases]
        rv = rules.check_batch(texts)
        fv = full.check_batch(texts)
        rules_rate = sum(bool(cats & set(v.fired)) for (_, cats, _), v in zip(cases, rv, strict=True))
        full_rate = sum(full_blocks(v) for v, b in zip(fv, base, strict=True) if b)
        out["rows"][name] = {
            "rules_detection": rules_rate / len(cases) if cases else 0.0,
            "policy_detection": full_rate / sum(base) if sum(base) else 0.0,
        }
    out["blocked_plain_by_policy_harm"] = sum(base)
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tweets", type=int, default=600)
    ap.add_argument("--clean-docs", type=int, default=600)
    ap.add_argument("--lang-sentences", type=int, default=250, help="sentences per language")
    args = ap.parse_args()
    res = {"date": datetime.date.today().isoformat(), "nproc": os.cpu_count()}
    res["pii"] = pii = eval_pii()
    print(f"# rule detector evaluation ({res['date']})\n")
    print(f"## PII on Presidio synth v2 ({pii['samples']} samples)\n")
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
        "policy's harm categories)\n"
    )
    print("| rewrite of the blocked words | rules detection | whole policy detection |")
    print("|---|---:|---:|")
    for name, r in ob["rows"].items():
        print(f"| {name} | {r['rules_detection']:.3f} | {r['policy_detection']:.3f} |")
    res["terms_fp"] = fp = eval_terms_fp(args.clean_docs)
    print(f"\n## Terms on clean text ({fp['docs']} docs of ~{fp['avg_chars']:.0f} chars)\n")
    print(f"drop rate (rules only): {fp['drop_rate']:.4f} {fp['drop_reasons']}\n")
    print("| category | documents where it fires |")
    print("|---|---:|")
    for c, r in fp["fired_rate"].items():
        print(f"| {c} | {r:.4f} |")
    print("\nmost frequent term hits: " + ", ".join(f"{k}: {v}" for k, v in fp["top_terms"].items()))
    res["context"] = cx = eval_context_cost()
    print("\n## Innocent senses (terms/innocent.txt phrases, terms/senses.tsv sense words)\n")
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


if __name__ == "__main__":
    main()
