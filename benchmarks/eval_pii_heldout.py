"""Held-out PII evaluation for the non-phone entity types: values and sentences the rules never saw.

    .venv/bin/python -m benchmarks.eval_pii_heldout [--prose-docs 181]

1. The set tests/fixtures/pii_heldout/pii_heldout.jsonl (built by build.py there from Faker's
   generators, python-stdnum's validators and ``ipaddress``, in sentences written for the set):
   span-exact and overlap recall/precision per entity type (EMAIL, CREDIT_CARD, IBAN, US_SSN,
   IP_ADDRESS) on the ``test`` split, recall per printed format, and every span predicted on the
   negative sentences (ISBNs, EANs, versions, order numbers, ...). PHONE predictions are left out
   of the scores (phones have their own held-out evaluation, benchmarks/eval_phones.py) but counted.
   ``tune`` is reported too, labelled, as a check that the two halves agree; it is the part a
   future rule change may be tuned on, ``test`` never.
2. False spans on held-out clean prose: the human-annotated article bodies of
   ../shared/data/web/article_extraction_benchmark (news and blog text; never used to write or
   score a PII rule: the rules were written from the Presidio set, the phone rules' prose check
   uses clean_text). Every non-phone span found is listed in the JSON so a reader can judge it;
   real news text may hold a real address, so these are "spans found", an upper bound on false ones.

The Presidio figures in benchmarks/eval_rules.py are in-sample (the rules were tuned on that set).
Writes benchmarks/results/eval_pii_heldout.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections import Counter
from pathlib import Path

from benchmarks.eval_rules import count_spans
from benchmarks.machine import SHARED_DATA, positive_int, shared_data_missing

REPO = Path(__file__).resolve().parents[1]
DATA = SHARED_DATA
FIXTURE = REPO / "tests" / "fixtures" / "pii_heldout" / "pii_heldout.jsonl"
RESULT = REPO / "benchmarks" / "results" / "eval_pii_heldout.json"
TYPES = ("EMAIL", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS")
SPLITS = ("test", "tune")  # test first: the reported part


def load_set(path: Path = FIXTURE) -> list[dict]:
    """The generated rows (header line dropped); a missing fixture raises, never skips."""
    with path.open(encoding="utf-8") as f:
        return [r for r in map(json.loads, f) if "header" not in r]


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def score(rows: list[dict], preds: list[list[tuple[int, int, str]]], split: str) -> dict:
    """Per type: gold, predicted, exact and overlap recall/precision; recall per format; negatives."""
    c = {t: Counter() for t in TYPES}
    by_fmt: dict[str, Counter] = {}
    other: Counter = Counter()
    misses: list[dict] = []
    false: list[dict] = []
    for r, pred in zip(rows, preds, strict=True):
        if r["split"] != split:
            continue
        gold = [(s, e, t) for s, e, t in r["spans"]]
        for t in TYPES:
            g = [(s, e) for s, e, gt in gold if gt == t]
            p = [(s, e) for s, e, pt in pred if pt == t]
            count_spans(c[t], g, p)
            for x in p:
                if x not in g:
                    false.append({"text": r["text"], "span": r["text"][x[0] : x[1]], "type": t})
        other.update(pt for _, _, pt in pred if pt not in TYPES)
        for s, e, t in gold:
            f = by_fmt.setdefault(f"{t}: {r['format']}", Counter())
            f["n"] += 1
            hit = (s, e, t) in pred
            f["hit"] += hit
            if not hit:
                misses.append({"text": r["text"], "gold": r["text"][s:e], "type": t, "format": r["format"]})
    types = {
        t: {
            "gold": k["gold"],
            "predicted": k["pred"],
            "exact_recall": _ratio(k["exact_gold"], k["gold"]),
            "exact_precision": _ratio(k["exact_pred"], k["pred"]),
            "overlap_recall": _ratio(k["ovl_gold"], k["gold"]),
            "overlap_precision": _ratio(k["ovl_pred"], k["pred"]),
        }
        for t, k in c.items()
    }
    negatives = [r for r in rows if r["split"] == split and not r["spans"]]
    return {
        "types": types,
        "recall_by_format": {
            k: {"n": v["n"], "recall": _ratio(v["hit"], v["n"])} for k, v in sorted(by_fmt.items())
        },
        "negative_sentences": len(negatives),
        "other_types_predicted": dict(sorted(other.items())),
        "false_spans": false,
        "misses": misses,
    }


def prose_spans(find, limit: int | None) -> dict:
    """PII spans found on the held-out article bodies, per type, with each non-phone span listed."""
    gt = json.loads((DATA / "web/article_extraction_benchmark/ground-truth.json").read_text(encoding="utf-8"))
    docs = [gt[k]["articleBody"] for k in sorted(gt)][:limit]
    per_type: Counter = Counter()
    docs_with: Counter = Counter()
    listed = []
    for d in docs:
        found = find(d)
        per_type.update(m.type for m in found)
        docs_with.update({m.type for m in found})
        listed += [{"type": m.type, "span": d[m.start : m.end]} for m in found if m.type != "PHONE"]
    return {
        "docs": len(docs),
        "chars": sum(map(len, docs)),
        "spans_per_type": dict(sorted(per_type.items())),
        "docs_with_type": dict(sorted(docs_with.items())),
        "non_phone_spans": listed,
    }


def run(prose_docs: int | None) -> dict:
    from importlib.metadata import version

    from filters.pii import find_pii

    rows = load_set()
    preds = [[(m.start, m.end, m.type) for m in find_pii(r["text"])] for r in rows]
    return {
        "date": datetime.date.today().isoformat(),
        "machine": "2-core shared VM, loaded",
        "fixture": str(FIXTURE.relative_to(REPO)),
        "phonenumbers": version("phonenumbers"),
        "splits": {s: score(rows, preds, s) for s in SPLITS},
        "prose": prose_spans(find_pii, prose_docs),
    }


def print_report(res: dict) -> None:
    for split in SPLITS:
        sc = res["splits"][split]
        label = "held out, reported" if split == "test" else "tune split, a check only"
        print(f"\n## {split} split ({label})\n")
        print("| type | gold | predicted | exact R | exact P | overlap R | overlap P |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for t, r in sc["types"].items():
            print(
                f"| {t} | {r['gold']} | {r['predicted']} | {r['exact_recall']:.3f} | {r['exact_precision']:.3f} "
                f"| {r['overlap_recall']:.3f} | {r['overlap_precision']:.3f} |"
            )
        print(
            f"\n{sc['negative_sentences']} sentences without PII; other types predicted over the split: "
            f"{sc['other_types_predicted'] or 'none'}"
        )
        if split == "test":
            print("\n| type: format | n | exact recall |\n|---|---:|---:|")
            for k, v in sc["recall_by_format"].items():
                print(f"| {k} | {v['n']} | {v['recall']:.3f} |")
    p = res["prose"]
    print(f"\n## Held-out prose: {p['docs']} news article bodies ({p['chars']:,} chars)\n")
    print(
        f"spans per type: {p['spans_per_type'] or 'none'}; documents with a type: {p['docs_with_type'] or 'none'}"
    )
    for s in p["non_phone_spans"][:20]:
        print(f"- {s['type']}: {s['span']!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prose-docs", type=positive_int, default=None, help="only the first N article bodies")
    args = ap.parse_args(argv)
    if shared_data_missing(DATA, "web/article_extraction_benchmark/ground-truth.json"):
        return 2
    if not FIXTURE.is_file():
        print(
            f"error: {FIXTURE} is missing: restore it from git or rebuild it with python tests/fixtures/pii_heldout/build.py",
            file=sys.stderr,
        )
        return 2
    res = run(args.prose_docs)
    print("# Held-out PII evaluation (non-phone types)")
    print_report(res)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULT.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, RESULT)
    print(f"\nwrote {RESULT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
