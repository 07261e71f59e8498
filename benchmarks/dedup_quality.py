"""Near-dedup quality on a benchmark built from real text with recorded edits and exact Jaccard.

    .venv/bin/python -m benchmarks.dedup_quality [--base 800] [--seed 0]

Base documents: disjoint groups of clean_text paragraphs and Common-Crawl-derived web documents
(web/dolma_fixtures). Each gets one edited copy (word substitutions, insertions, deletions, boilerplate
added, paragraphs reordered, truncation; strength drawn at random), and the neardup/ comment pairs are
added as they are. Truth: a pair is a duplicate when its exact Jaccard (same shingling as the dedup) is
>= the configured threshold. Predicted: both documents in the same cluster. Precision also counts every
predicted pair that was not recorded (its Jaccard is computed exactly). Writes benchmarks/results/dedup_quality.json
(benchmarks.machine.write_results).

This benchmark grades the dedup against its own Jaccard and its texts were used to tune the earlier defaults:
it is in-sample. The defaults are now chosen on benchmarks/dedup_provenance.py (truth from provenance,
held-out text, tune/test split).
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import random
from collections import defaultdict

import pyarrow as pa

from benchmarks.dedup_data import SHARED, paragraphs
from benchmarks.machine import machine_info, positive_int, shared_data_missing, write_results
from dedup import DedupConfig, LocalExecutor, dedup_blocks, shingle_hashes
from dedup.shingle import jaccard

IN_SAMPLE = (
    "the truth is the Jaccard of the dedup's own shingles and the default re-checks every candidate pair "
    "with that same Jaccard, so every pair it links passes the truth's own test by construction (its only "
    "false pairs are documents joined through a third one; with 5-gram shingles and 12x10 that gave "
    "precision 1.000); the earlier defaults were chosen on this benchmark's texts. A regression check, "
    "not a quality result."
)
# What the benchmark reads from the shared data folder, checked before any work.
NEEDS = (
    "clean_text",
    "web/dolma_fixtures",
    "neardup/wiki_toxicity_fuzzed_testset.csv",
    "toxicity/wiki_toxicity_nonfuzzed_testset.csv",
)
EDITS = ["substitute", "insert", "delete", "boilerplate", "reorder", "truncate"]
BOILER = "Subscribe to our newsletter for updates. All rights reserved. Privacy policy. Terms of use. Cookie settings."


def base_docs(n: int, rng: random.Random) -> list[str]:
    paras = paragraphs()
    rng.shuffle(paras)
    docs, cur = [], []
    for p in paras:
        cur.append(p)
        if sum(map(len, cur)) > 1500:
            docs.append("\n\n".join(cur))
            cur = []
        if len(docs) >= n:
            break
    for f in sorted((SHARED / "web" / "dolma_fixtures").glob("*.jsonl")):
        docs += [
            t
            for t in (json.loads(line).get("text", "") for line in f.read_text().splitlines())
            if len(t) > 800
        ]
    return docs


def edit(text: str, kind: str, rng: random.Random) -> str:
    words = text.split(" ")
    k = max(1, int(len(words) * rng.uniform(0.01, 0.25)))
    if kind == "substitute":
        for i in rng.sample(range(len(words)), min(k, len(words))):
            words[i] = rng.choice(words)
    elif kind == "insert":
        for _ in range(k):
            words.insert(rng.randrange(len(words) + 1), rng.choice(words))
    elif kind == "delete":
        for _ in range(min(k, len(words) - 1)):
            del words[rng.randrange(len(words))]
    elif kind == "boilerplate":
        block = " ".join([BOILER] * rng.randint(1, 4))
        return block + "\n\n" + text if rng.random() < 0.5 else text + "\n\n" + block
    elif kind == "reorder":
        paras = text.split("\n\n") if text.count("\n\n") >= 2 else text.split(". ")
        rng.shuffle(paras)
        return ("\n\n" if text.count("\n\n") >= 2 else ". ").join(paras)
    elif kind == "truncate":
        return " ".join(words[: max(1, int(len(words) * rng.uniform(0.6, 0.98)))])
    return " ".join(words)


def neardup_pairs() -> list[tuple[str, str]]:
    fuzz = {
        r["rev_id"]: r["comment"]
        for r in csv.DictReader(
            io.StringIO((SHARED / "neardup/wiki_toxicity_fuzzed_testset.csv").read_text())
        )
    }
    orig = csv.DictReader(io.StringIO((SHARED / "toxicity/wiki_toxicity_nonfuzzed_testset.csv").read_text()))
    return [(r["comment"], fuzz[r["rev_id"]]) for r in orig if r["rev_id"] in fuzz]


def evaluate(ids, texts, recorded, config: DedupConfig) -> dict:
    t = config.minhash.threshold
    res = dedup_blocks([pa.table({"id": ids, "text": texts})], config, LocalExecutor())
    cluster = {
        m: c
        for c, ms in zip(
            res.clusters["cluster_id"].to_pylist(), res.clusters["members"].to_pylist(), strict=True
        )
        for m in ms
    }
    hashes = dict(
        zip(
            ids,
            (shingle_hashes(x, config.minhash.ngram, config.minhash.char_ngram) for x in texts),
            strict=True,
        )
    )
    rec = {(a, b): j for a, b, j, _ in recorded}
    tp = fn = 0
    by_bucket: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a, b, j, _ in recorded:
        together = a in cluster and cluster.get(a) == cluster.get(b)
        bucket = f"{min(int(j * 10), 9) / 10:.1f}-{min(int(j * 10), 9) / 10 + 0.1:.1f}"
        by_bucket[bucket][0] += together
        by_bucket[bucket][1] += 1
        if j >= t:
            tp += together
            fn += not together
    fp = 0
    for members in res.clusters["members"].to_pylist():
        for a, b in itertools.combinations(sorted(members), 2):
            j = rec.get((a, b), rec.get((b, a)))
            if j is None:
                j = jaccard(hashes[a], hashes[b])
            fp += j < t
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "recall_by_jaccard": {k: v[0] / v[1] for k, v in sorted(by_bucket.items())},
        "pairs_by_jaccard": {k: v[1] for k, v in sorted(by_bucket.items())},
        "info": res.info,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--base", type=positive_int, default=800, help="base documents (each gets an edited copy)"
    )
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if any(shared_data_missing(SHARED, need) for need in NEEDS):
        return 2
    rng = random.Random(a.seed)
    ids: list[str] = []
    texts: list[str] = []
    recorded: list[tuple[str, str, float, str]] = []
    cfg = DedupConfig(use_ray=False, exact={"enabled": False})
    for i, doc in enumerate(base_docs(a.base, rng)):
        kind = EDITS[i % len(EDITS)]
        ids += [f"b{i:05d}", f"e{i:05d}"]
        texts += [doc, edit(doc, kind, rng)]
        recorded.append((ids[-2], ids[-1], 0.0, kind))
    for i, (x, y) in enumerate(neardup_pairs()):
        ids += [f"n{i:05d}a", f"n{i:05d}b"]
        texts += [x, y]
        recorded.append((ids[-2], ids[-1], 0.0, "neardup_identity_swap" if x != y else "neardup_identical"))
    m = cfg.minhash
    h = dict(zip(ids, (shingle_hashes(x, m.ngram, m.char_ngram) for x in texts), strict=True))
    recorded = [(x, y, jaccard(h[x], h[y]), k) for x, y, _, k in recorded]
    rows = []
    for name, c in [
        ("winnow default (verify_jaccard: linked pairs pass by construction)", cfg),
        (
            "winnow, no Jaccard check",
            cfg.model_copy(update={"minhash": cfg.minhash.model_copy(update={"verify_jaccard": False})}),
        ),
    ]:
        rows.append({"config": name, **evaluate(ids, texts, recorded, c)})
    machine = machine_info("numpy", "pyarrow")
    meta = {
        "date": machine["date"],
        "documents": len(ids),
        "recorded_pairs": len(recorded),
        "threshold": cfg.minhash.threshold,
        "in_sample": IN_SAMPLE,
        "held_out_figure": "benchmarks/dedup_provenance.py (results/dedup_provenance.json, test split)",
    }
    method = (
        f"IN-SAMPLE: {IN_SAMPLE} One deterministic run (seed {a.seed}, {a.base} base documents), "
        "inline executor (no Ray); counts over every pair of the corpus"
    )
    write_results("dedup_quality", {"meta": meta, "results": rows}, method=method, machine=machine)
    print(f"IN-SAMPLE / BY CONSTRUCTION: {IN_SAMPLE}\nHeld-out quality figure: {meta['held_out_figure']}\n")
    print(
        f"{meta['documents']} documents, {meta['recorded_pairs']} recorded pairs, threshold {meta['threshold']}, "
        f"{meta['date']}\n"
    )
    print(
        "| config (in-sample) | precision | recall | F1 | TP | FP | FN | bands x rows |\n"
        "|---|---:|---:|---:|---:|---:|---:|---|"
    )
    for r in rows:
        print(
            f"| {r['config']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['tp']} | {r['fp']} | "
            f"{r['fn']} | {r['info']['bands']}x{r['info']['rows']} |"
        )
    buckets = list(rows[0]["recall_by_jaccard"])
    print("\n| true Jaccard | pairs | " + " | ".join(f"recall ({r['config']})" for r in rows) + " |")
    print("|---|---:|" + "---:|" * len(rows))
    for b in buckets:
        print(
            f"| {b} | {rows[0]['pairs_by_jaccard'][b]} | "
            + " | ".join(f"{r['recall_by_jaccard'][b]:.3f}" for r in rows)
            + " |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
