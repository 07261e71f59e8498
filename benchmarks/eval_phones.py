"""Phone numbers: recall / precision on the generated set, false spans on clean prose, cost.

    .venv/bin/python -m benchmarks.eval_phones [--clean-docs 600] [--repeat 5] [--no-before]

1. The evaluation set tests/fixtures/phones/phones_eval.jsonl (built by build.py there from
   phonenumbers' example numbers): span-exact PHONE recall and precision per split, recall per
   format and with / without a phone word, and every other PII type predicted on its negative
   sentences (all of them false). ``holdout`` is the held-out part (scored once with the rules then
   final: recall 0.951, precision 0.985; its false spans, all coordinate pairs, then led to the
   decimal-pair rule); ``tune`` and ``test`` are in-sample (``test`` was held out until its errors
   were read, see build.py).
2. False spans on clean prose: ~4 KB documents of clean_text paragraphs (eval_rules' recipe, seed
   0): the share of documents with any PII span, phone spans per document.
3. Presidio synth v2 PHONE_NUMBER (in-sample: the earlier phone rules were tuned on it).
4. Cost of find_pii: median ms per 2 KB / 4 KB clean document and per 4 KB of contact-sheet text;
   pathological digit/separator inputs at 10 KB and 100 KB (ratio ~10 = linear); before and after
   take turns in every run.

"before" is filters/pii.py at ``--before`` (default f73518f, the last commit with the digit-count
phone rules), loaded as a separate module; ``--no-before`` skips it. Writes benchmarks/results/eval_phones.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from benchmarks.machine import SHARED_DATA, shared_data_missing

REPO = Path(__file__).resolve().parents[1]
DATA = SHARED_DATA
FIXTURE = REPO / "tests" / "fixtures" / "phones" / "phones_eval.jsonl"
RESULT = REPO / "benchmarks" / "results" / "eval_phones.json"

# What the evaluation reads from the shared data folder (clean prose: benchmarks.corpus.TextPools), checked
# before any work.
NEEDS = ("clean_text", "toxicity", "langid", "pii/presidio_synth_dataset_v2.json")
Finder = Callable[[str], list]


def load_set() -> list[dict]:
    with FIXTURE.open(encoding="utf-8") as f:
        return [r for r in map(json.loads, f) if "header" not in r]


def score_set(find: Finder, rows: list[dict], split: str) -> dict:
    """Span-exact PHONE recall/precision on one split, recall per format / context, other types."""
    gold_n = tp = pred_n = 0
    by_fmt: dict[str, Counter] = {}
    by_ctx: dict[str, Counter] = {}
    other: Counter = Counter()
    misses, false = [], []
    for r in rows:
        if r["split"] != split:
            continue
        text = r["text"]
        found = find(text)
        phones = {(m.start, m.end) for m in found if m.type == "PHONE"}
        if r["kind"] == "negative":  # phone records may hold a real e-mail address
            other.update(m.type for m in found if m.type != "PHONE")
        gold = {(s, e) for s, e, *_ in r["spans"]}
        pred_n += len(phones)
        tp += len(phones & gold)
        false += [text[s:e] for s, e in sorted(phones - gold)]
        for s, e, _, _region, fmt in r["spans"]:
            hit = (s, e) in phones
            gold_n += 1
            by_fmt.setdefault(fmt, Counter()).update(n=1, hit=hit)
            by_ctx.setdefault("phone word" if r["context"] else "no phone word", Counter()).update(
                n=1, hit=hit
            )
            if not hit:
                misses.append(text[s:e])
    return {
        "gold": gold_n,
        "predicted": pred_n,
        "recall": tp / gold_n if gold_n else 0.0,
        "precision": tp / pred_n if pred_n else 1.0,
        "recall_by_format": {k: round(c["hit"] / c["n"], 4) for k, c in sorted(by_fmt.items())},
        "recall_by_context": {k: round(c["hit"] / c["n"], 4) for k, c in sorted(by_ctx.items())},
        "other_types_predicted": dict(other),
        "examples_missed": misses[:15],
        "examples_false": false[:15],
    }


def clean_docs(n_docs: int, size: int) -> list[str]:
    from benchmarks.corpus import TextPools

    pools = TextPools()
    rng = random.Random(0)
    docs = []
    for _ in range(n_docs):
        parts, total = [], 0
        while total < size:
            p = rng.choice(pools.paragraphs)
            parts.append(p)
            total += len(p) + 2
        docs.append("\n\n".join(parts))
    return docs


def false_spans(find: Finder, docs: list[str]) -> dict:
    spans = [find(d) for d in docs]
    phone = [[d[m.start : m.end] for m in s if m.type == "PHONE"] for d, s in zip(docs, spans, strict=True)]
    return {
        "docs": len(docs),
        "avg_chars": round(sum(map(len, docs)) / len(docs)),
        "docs_with_any_pii_span": sum(bool(s) for s in spans) / len(docs),
        "docs_with_phone_span": sum(bool(p) for p in phone) / len(docs),
        "phone_spans_per_doc": sum(map(len, phone)) / len(docs),
        "phone_examples": [x for p in phone for x in p][:20],
    }


def presidio_phone(find: Finder) -> dict:
    from filters.pii import PRESIDIO_TYPES

    data = json.loads((DATA / "pii/presidio_synth_dataset_v2.json").read_text(encoding="utf-8"))
    gold_n = tp = pred_n = 0
    for rec in data:
        text = rec["full_text"]
        gold = {
            (s["start_position"], s["end_position"])
            for s in rec["spans"]
            if PRESIDIO_TYPES.get(s["entity_type"]) == "PHONE"
        }
        pred = {(m.start, m.end) for m in find(text) if m.type == "PHONE"}
        gold_n += len(gold)
        pred_n += len(pred)
        tp += len(gold & pred)
    return {"gold": gold_n, "predicted": pred_n, "recall": tp / gold_n, "precision": tp / pred_n}


def pathological(size: int) -> dict[str, str]:
    rng = random.Random(size)
    return {
        "digits": "".join(rng.choice("0123456789") for _ in range(size)),
        "digits and separators": "".join(rng.choice("0123456789 .-()+/x") for _ in range(size)),
        "digit groups": " ".join(str(rng.randint(0, 99999)) for _ in range(size // 4))[:size],
        "phone-shaped runs": ("+44 20 7946 0958 " * (size // 17 + 1))[:size],
        "paren groups": ("(0)" * (size // 3 + 1))[:size],
    }


def timed(finders: dict[str, Finder], texts: list[str], repeat: int) -> dict[str, float]:
    """Per finder, the median over ``repeat`` runs of the mean ms per text; the finders take turns
    in each run, so a load change on a shared machine hits them alike."""
    from filters.phones import number_valid

    runs: dict[str, list[float]] = {name: [] for name in finders}
    for _ in range(repeat):
        for name, find in finders.items():
            number_valid.cache_clear()  # every run starts cold, as on unseen text
            t0 = time.perf_counter()
            for t in texts:
                find(t)
            runs[name].append((time.perf_counter() - t0) / len(texts) * 1000)
    return {name: statistics.median(r) for name, r in runs.items()}


def costs(finders: dict[str, Finder], repeat: int) -> dict[str, dict]:
    """ms of each finder on clean documents, a contact sheet and pathological inputs."""
    rows = [r["text"] for r in load_set()]
    sheet: list[str] = []
    while sum(map(len, sheet)) < 4000:
        sheet.append(rows[len(sheet) * 7 % len(rows)])
    inputs = {
        "ms_per_2kb_clean_doc": (clean_docs(100, 2000), repeat),
        "ms_per_4kb_clean_doc": (clean_docs(100, 4000), repeat),
        "ms_per_4kb_contact_sheet": (["\n".join(sheet)], repeat * 4),
    }
    for size in (10_000, 100_000):
        for kind, text in pathological(size).items():
            inputs[f"pathological_ms {kind} {size // 1000} KB"] = ([text], repeat)
    out: dict[str, dict] = {name: {} for name in finders}
    for key, (texts, n) in inputs.items():
        for name, ms in timed(finders, texts, n).items():
            out[name][key] = ms
    return out


def before_finder(rev: str) -> Finder:
    """find_pii of filters/pii.py at git revision ``rev``, as a separate module (a revision whose
    pii.py imports filters.phones gets today's filters.phones)."""
    src = subprocess.run(
        ["git", "show", f"{rev}:filters/pii.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "pii_before.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("pii_before", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["pii_before"] = mod
    spec.loader.exec_module(mod)
    return mod.find_pii


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clean-docs", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--no-before", action="store_true", help="skip the 'before' pii.py (no git history needed)"
    )
    ap.add_argument("--before", default="f73518f", help="git revision of the 'before' pii.py")
    args = ap.parse_args(argv)
    if args.clean_docs < 1 or args.repeat < 1:
        print("error: --clean-docs and --repeat must be >= 1", file=sys.stderr)
        return 2
    if not FIXTURE.exists():
        print(f"error: {FIXTURE} is missing (python tests/fixtures/phones/build.py)", file=sys.stderr)
        return 2
    if any(shared_data_missing(DATA, need) for need in NEEDS):
        return 2
    from benchmarks.machine import machine_info
    from filters.pii import find_pii

    try:
        finders = {"after": find_pii} if args.no_before else {"before": before_finder(args.before)}
    except (subprocess.CalledProcessError, OSError):
        print(
            f"error: no filters/pii.py at git revision {args.before!r} (not in this checkout's history, e.g. "
            "a shallow clone): "
            "pass --no-before to skip the 'before' column, or --before REV",
            file=sys.stderr,
        )
        return 2
    finders["after"] = find_pii
    rows = load_set()
    docs = clean_docs(args.clean_docs, 4000)
    res: dict = {
        "machine": machine_info("phonenumbers"),
        "set": str(FIXTURE.relative_to(REPO)),
        "results": {},
    }
    for name, find in finders.items():
        res["results"][name] = {
            "set_holdout (held out; its false spans informed one rule)": score_set(find, rows, "holdout"),
            "set_test (errors read: in-sample)": score_set(find, rows, "test"),
            "set_tune (in-sample)": score_set(find, rows, "tune"),
            "clean_prose": false_spans(find, docs),
            "presidio_phone (in-sample)": presidio_phone(find),
        }
    for name, cost in costs(finders, args.repeat).items():
        res["results"][name]["cost"] = cost
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(res["results"], indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
