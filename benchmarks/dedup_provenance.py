"""Near-duplicates by provenance: is a lightly edited copy found, and is a rewrite left alone?

    .venv/bin/python -m benchmarks.dedup_provenance [--seed 0] [--max-words 3000] [--skip-speed]

Duplicates are defined the way users do, and the truth comes from how each document was made, never from
a similarity score. Base documents are real text the project never tuned its dedup on: the 181 human-
annotated news bodies of web/article_extraction_benchmark (ground-truth.json `articleBody`) and the
documentation pages (README long descriptions) of the Python distributions installed in this environment
(`importlib.metadata`, winnow's own README excluded; the list with versions and text hashes is written to
the results: installing packages adds documents, and a document's split depends only on its key). The earlier
dedup benchmark (benchmarks/dedup_quality.py) tuned on clean_text (Gutenberg included), dolma_fixtures
and neardup/, so none of those is used here. Bases of >= 100 words, capped at --max-words; a base that
shares >= 20% of its word 8-grams with an earlier one (e.g. a family of packages with the same README) is
dropped so that "distinct documents" really are distinct.

Split BEFORE tuning: a base goes to "tune" or "test" by sha256 of its source key; all its variants follow.

Each base gets, from a generator seeded by (seed, key):
- duplicates (same group as the base): `edit` (1-5% of words substituted/inserted/deleted), `boilerplate`
  (1-3 blocks of its site's cookie banner / share bar / navigation / footer lines), `format` (re-wrapped
  lines, blank lines, tabs, CRLF, non-breaking spaces, bold/bullet markup), `combo` (all three);
- a negative: `rewrite` (50-90% of words replaced by words drawn from the split's vocabulary).
Distinct bases are negatives of each other; bases of the same source and site share boilerplate blocks,
which is the realistic trap for short pages. Five corpora per split are deduped separately
(`dedup.provenance.REPLICAS`): original + one duplicate kind + rewrite for each kind (most real clusters are
pairs, so a missed pair can't be rescued by a chain through other copies), then all kinds together.

A predicted duplicate pair is two documents in the same cluster (exact + near clusters joined), so the
scores count every pair of the corpus. Tuning evaluates a grid of shingle size x threshold x verification x
bands/rows on the tune split with a fast exact path (all-pairs shingle overlap by sparse product, real band
collisions of our signatures, connected components); the chosen default and the references are then run
through the real `dedup_blocks` (LocalExecutor) on the test split. datasketch `MinHashLSH` (same shingles,
same signatures, no verification step, which it does not have) is run at its default threshold and at
its best threshold on the tune split (F1 ties → the higher threshold). The tune rule (`choose`): best F1,
then the widest similarity margin, then the fewest candidate pairs, then the higher threshold. Signature speed: documents/s on the test documents pinned to one
core, shingling included, median of 3. Writes benchmarks/results/dedup_provenance.json.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata as md
import itertools
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from benchmarks.dedup_data import SHARED
from benchmarks.machine import shared_data_missing
from dedup import DedupConfig, LocalExecutor, MinHashConfig, dedup_blocks
from dedup.lsh import band_keys, optimal_params
from dedup.minhash import signatures_from_hashes
from dedup.provenance import REPLICAS, Base, Corpus, build_corpora, counts, labels_from_clusters, summarize
from dedup.shingle import shingle_hashes

RESULTS = Path(__file__).resolve().parent / "results" / "dedup_provenance.json"
MIN_WORDS = 100

# ------------------------------------------------------------------ base documents


def _cap(text: str, max_words: int) -> str:
    """The text up to its max_words-th word (whole lines kept where possible)."""
    words = 0
    out = []
    for line in text.splitlines():
        n = len(line.split())
        if words + n > max_words:
            break
        out.append(line)
        words += n
    return "\n".join(out)


def news_bases() -> list[Base]:
    gt = json.loads((SHARED / "web/article_extraction_benchmark/ground-truth.json").read_text())
    return [Base(f"news:{k}", "news", v["articleBody"]) for k, v in sorted(gt.items())]


def docs_bases() -> list[Base]:
    seen: dict[str, Base] = {}
    for d in md.distributions():
        name = (d.metadata.get("Name") or "").lower()
        body = d.metadata.get_payload() or d.metadata.get("Description") or ""
        if name and name != "winnow" and name not in seen and isinstance(body, str):  # not our own README
            seen[name] = Base(f"docs:{name}", "docs", body)
    return [seen[k] for k in sorted(seen)]


def _version(key: str) -> str:
    """Installed version of a documentation base's distribution ("-" for news)."""
    return md.version(key.split(":", 1)[1]) if key.startswith("docs:") else "-"


def _grams(text: str, n: int = 8) -> set[str]:
    w = re.findall(r"\w+", text.lower())
    return {" ".join(w[i : i + n]) for i in range(max(1, len(w) - n + 1))}


def load_bases(max_words: int) -> list[Base]:
    """Bases >= MIN_WORDS words, capped, minus those sharing >= 20% of 8-grams with an earlier kept one."""
    kept: list[Base] = []
    grams: list[set[str]] = []
    for b in news_bases() + docs_bases():
        text = _cap(b.text, max_words)
        if len(text.split()) < MIN_WORDS:
            continue
        g = _grams(text)
        if any(len(g & h) >= 0.2 * min(len(g), len(h)) for h in grams):
            continue
        kept.append(Base(b.key, b.source, text))
        grams.append(g)
    return kept


def split_of(key: str) -> str:
    """tune/test by the source key's hash: fixed before any tuning, independent of the seed."""
    return "tune" if hashlib.sha256(key.encode()).digest()[0] % 2 == 0 else "test"


# ------------------------------------------------------------------ fast exact path for the tuning grid


@dataclass
class Prepared:
    n: int
    row: np.ndarray  # upper-triangle pairs with a shared shingle
    col: np.ndarray
    jaccard: np.ndarray
    containment: np.ndarray
    sigs: np.ndarray


def prepare(c: Corpus, ngram: int, num_perm: int = 128) -> Prepared:
    sets = [np.unique(shingle_hashes(t, ngram, ngram)) for t in c.texts]
    sizes = np.array([len(s) for s in sets])
    flat = np.concatenate(sets)
    _, cols = np.unique(flat, return_inverse=True)
    rows = np.repeat(np.arange(len(sets)), sizes)
    a = sparse.csr_matrix((np.ones(len(flat), np.int32), (rows, cols)))
    inter = sparse.triu(a @ a.T, k=1).tocoo()
    r, k, x = inter.row, inter.col, inter.data.astype(np.float64)
    sigs = signatures_from_hashes(sets, MinHashConfig(num_perm=num_perm))
    return Prepared(len(sets), r, k, x / (sizes[r] + sizes[k] - x), x / np.minimum(sizes[r], sizes[k]), sigs)


def lsh_pairs(sigs: np.ndarray, bands: int, rows: int) -> set[tuple[int, int]]:
    """Pairs sharing at least one band key (what band_reduce emits for small buckets)."""
    keys = band_keys(sigs, bands, rows)
    out: set[tuple[int, int]] = set()
    for j in range(bands):
        buckets: dict[int, list[int]] = {}
        for i, k in enumerate(keys[:, j].tolist()):
            buckets.setdefault(k, []).append(i)
        for m in buckets.values():
            out.update(itertools.combinations(m, 2))
    return out


def fast_labels(p: Prepared, cand: set[tuple[int, int]], verify: str, threshold: float) -> np.ndarray:
    """Cluster labels: LSH candidates kept by the verification, then connected components."""
    if verify == "none":
        edges = sorted(cand)
    else:
        s = p.jaccard if verify == "jaccard" else p.containment
        keep = s >= threshold
        ok = set(zip(p.row[keep].tolist(), p.col[keep].tolist(), strict=True))
        edges = sorted(e for e in cand if e in ok)
    if not edges:
        return np.arange(p.n)
    e = np.array(edges)
    g = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(p.n, p.n))
    return connected_components(g, directed=False)[1]


def margin(preps: list[Prepared], corpora: list[Corpus], verify: str, t: float) -> float:
    """min(1st percentile of duplicate-pair similarity / t, t / max non-duplicate similarity) on tune."""
    if verify == "none":
        return 1.0
    pos, neg = [], []
    for p, c in zip(preps, corpora, strict=True):
        s = p.jaccard if verify == "jaccard" else p.containment
        same = c.group[p.row] == c.group[p.col]
        pos.append(s[same])
        neg.append(s[~same])
    return min(float(np.quantile(np.concatenate(pos), 0.01)) / t, t / float(np.concatenate(neg).max()))


WEIGHTS = ((0.5, 0.5), (0.2, 0.8), (0.1, 0.9), (0.05, 0.95))


def tune(corpora: list[Corpus], ngrams: list[int], thresholds: list[float]) -> list[dict]:
    """Every grid point scored on the tune split (exact verification, real band collisions)."""
    rows = []
    for n in ngrams:
        preps = [prepare(c, n) for c in corpora]
        shapes: dict[tuple[int, int], list[set]] = {}
        for t in thresholds:
            for fpw, fnw in WEIGHTS:
                br = optimal_params(t, 128, fpw, fnw)
                if br not in shapes:
                    shapes[br] = [lsh_pairs(p.sigs, *br) for p in preps]
                for verify in ("jaccard", "containment", "none"):
                    total: Counter = Counter()
                    for p, c, cand in zip(preps, corpora, shapes[br], strict=True):
                        total += counts(c, fast_labels(p, cand, verify, t))
                    rows.append(
                        {
                            "ngram": n,
                            "threshold": t,
                            "fp_weight": fpw,
                            "fn_weight": fnw,
                            "bands": br[0],
                            "rows": br[1],
                            "verify": verify,
                            "candidates": sum(len(x) for x in shapes[br]),
                            "margin": round(margin(preps, corpora, verify, t), 3),
                            **summarize(total),
                        }
                    )
    return rows


def choose(rows: list[dict]) -> dict:
    """Rule fixed before looking at test: best tune F1 (to 3 decimals), then the widest similarity margin,
    then the fewest candidate pairs (verification cost), then the larger threshold."""
    return max(rows, key=lambda r: (round(r["f1"], 3), r["margin"], -r["candidates"], r["threshold"]))


# ------------------------------------------------------------------ test split: the real engine and datasketch


def engine_labels(c: Corpus, config: DedupConfig) -> np.ndarray:
    """Cluster labels from `dedup_blocks` (exact + near clusters joined by shared members)."""
    res = dedup_blocks([pa.table({"id": c.ids, "text": c.texts})], config, LocalExecutor())
    return labels_from_clusters(c.ids, res.clusters["members"].to_pylist())


def datasketch_labels(c: Corpus, ngram: int, threshold: float, num_perm: int = 128) -> np.ndarray:
    """datasketch MinHashLSH over our signatures (same shingles; bit-identical to datasketch's MinHash),
    query every document, connected components of the returned pairs. No verification step."""
    from datasketch import MinHashLSH

    from dedup.minhash import to_datasketch

    cfg = MinHashConfig(num_perm=num_perm, ngram=ngram, char_ngram=ngram)
    sigs = signatures_from_hashes([shingle_hashes(t, ngram, ngram) for t in c.texts], cfg)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    mh = [to_datasketch(s, cfg) for s in sigs]
    for i, m in enumerate(mh):
        lsh.insert(str(i), m)
    edges = [(i, int(j)) for i, m in enumerate(mh) for j in lsh.query(m) if int(j) > i]
    if not edges:
        return np.arange(len(c.ids))
    e = np.array(edges)
    g = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(c.ids),) * 2)
    return connected_components(g, directed=False)[1]


def run_all(corpora: list[Corpus], label_fn) -> dict:
    total: Counter = Counter()
    for c in corpora:
        total += counts(c, label_fn(c))
    return summarize(total)


def signature_speed(texts: list[str], cfg: MinHashConfig, repeats: int = 3) -> dict:
    """Documents/s of shingling + signatures on one core (sched_setaffinity), median of `repeats`."""
    from dedup import signatures

    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        signatures(texts[:50], cfg)  # warm the char-class table and permutations
        wall, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            signatures(texts, cfg)
            wall.append(len(texts) / (time.perf_counter() - t0))
            cpu.append(len(texts) / (time.process_time() - c0))
    finally:
        os.sched_setaffinity(0, before)
    return {
        "documents": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts)),
        "docs_per_s_wall_median": round(statistics.median(wall)),
        "docs_per_s_cpu_median": round(statistics.median(cpu)),
        "runs_wall": [round(x) for x in wall],
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


OLD_DEFAULT = {"ngram": 5, "threshold": 0.8, "fp_weight": 0.2, "fn_weight": 0.8}
DS_THRESHOLDS = [0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9]


def _cfg(minhash: dict) -> DedupConfig:
    return DedupConfig(use_ray=False, minhash=minhash)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--max-words", type=int, default=3000, help=f"cap each base document (at least {MIN_WORDS})"
    )
    ap.add_argument("--skip-speed", action="store_true")
    a = ap.parse_args(argv)
    if a.max_words < MIN_WORDS:
        print(
            f"error: --max-words {a.max_words} is too small: bases shorter than {MIN_WORDS} words are "
            f"dropped, so pass at least {MIN_WORDS} (default 3000)",
            file=sys.stderr,
        )
        return 2
    if shared_data_missing(SHARED, "web/article_extraction_benchmark/ground-truth.json"):
        return 2
    bases = load_bases(a.max_words)
    split = {s: [b for b in bases if split_of(b.key) == s] for s in ("tune", "test")}
    corpora = {s: build_corpora(bs, a.seed) for s, bs in split.items()}

    grid = tune(corpora["tune"], [2, 3, 4, 5], [0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8])
    best = choose(grid)
    chosen = {k: best[k] for k in ("ngram", "threshold", "fp_weight", "fn_weight")}
    default = MinHashConfig()
    shipped = {k: getattr(default, k) for k in chosen}
    ds_tune = {
        t: run_all(corpora["tune"], lambda c, t=t: datasketch_labels(c, best["ngram"], t))
        for t in DS_THRESHOLDS
    }
    ds_best = max(DS_THRESHOLDS, key=lambda t: (ds_tune[t]["f1"], t))

    test = corpora["test"]
    rows = {
        "winnow default": run_all(test, lambda c: engine_labels(c, _cfg({}))),
        "winnow default, no Jaccard check": run_all(
            test, lambda c: engine_labels(c, _cfg({"verify_jaccard": False}))
        ),
        "winnow old default (5-gram, 0.8, 12x10)": run_all(
            test, lambda c: engine_labels(c, _cfg(OLD_DEFAULT))
        ),
        "datasketch MinHashLSH default (threshold 0.9)": run_all(
            test, lambda c: datasketch_labels(c, best["ngram"], 0.9)
        ),
        f"datasketch MinHashLSH tuned (threshold {ds_best})": run_all(
            test, lambda c: datasketch_labels(c, best["ngram"], ds_best)
        ),
    }
    # Sanity: the fast path used for tuning scores the chosen config on test exactly like the real engine.
    preps = [prepare(c, best["ngram"]) for c in test]
    fast = Counter()
    for p, c in zip(preps, test, strict=True):
        cand = lsh_pairs(p.sigs, best["bands"], best["rows"])
        fast += counts(c, fast_labels(p, cand, best["verify"], best["threshold"]))
    texts = [t for c in test[-1:] for t in c.texts]
    speed = None if a.skip_speed else signature_speed(texts, default)
    out = {
        "meta": {
            "date": datetime.date.today().isoformat(),
            "command": "python -m benchmarks.dedup_provenance",
            "seed": a.seed,
            "nproc": os.cpu_count(),
            "bases": {s: dict(Counter(b.source for b in bs)) for s, bs in split.items()},
            "documents_per_split": {s: sum(len(c.ids) for c in cs) for s, cs in corpora.items()},
            "replicas": [list(r) for r in REPLICAS],
            "doc_sources": sorted(
                f"{b.key} {_version(b.key)} {hashlib.sha256(b.text.encode()).hexdigest()[:12]}" for b in bases
            ),
        },
        "chosen_on_tune": {**chosen, "bands": best["bands"], "rows": best["rows"], "verify": best["verify"]},
        "shipped_default": {
            **shipped,
            "bands_rows": list(
                optimal_params(default.threshold, default.num_perm, default.fp_weight, default.fn_weight)
            ),
            "verify_jaccard": default.verify_jaccard,
        },
        "tune_best": best,
        "tune_grid": grid,
        "datasketch_tune_f1": {str(t): ds_tune[t]["f1"] for t in DS_THRESHOLDS},
        "test": rows,
        "test_fast_path_chosen": summarize(fast),
        "signature_speed_test_docs": speed,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(f"bases {out['meta']['bases']}, documents {out['meta']['documents_per_split']}")
    print(f"chosen on tune: {out['chosen_on_tune']} (tune F1 {best['f1']}, margin {best['margin']})")
    print(f"shipped default: {out['shipped_default']}\n")
    print(
        "| test split | precision | recall | F1 | precision vs >=50% rewrites | rewrite FP | cross-doc FP |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | "
            f"{r['precision_vs_rewrites']:.4f} | {r['rewrite_fp']}/{r['rewrite_pairs']} | {r['cross_document_fp']} |"
        )
    print("\nrecall by kind:", {n: r["recall_by_kind"] for n, r in rows.items()})
    print(f"fast tuning path on test, chosen config: F1 {out['test_fast_path_chosen']['f1']}")
    if speed:
        print(f"\nsignatures, one core: {speed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
