"""Evaluate the classifier detectors on labeled data never used for training or calibration.

    .venv/bin/python -m benchmarks.eval_classifiers

- Toxicity (bundled fastText model): the held-out *test* split of Davidson +
  ToxiGen (scripts/train_toxicity.split_of; train fit the model, dev fit the
  calibration and thresholds), and the CC BY-SA Wikipedia Talk and Jigsaw
  sets (never trained on). Precision / recall / F1 at the shipped threshold,
  ROC AUC, and the false-positive rate at the shipped threshold; side by side
  with alt-profanity-check alone (at its own 0.5).
  Note: alt-profanity-check was itself trained on Davidson and on Wikipedia
  comments, so its figures on those sets are optimistic (seen data).
- Long documents: clean ~4 KB documents (WikiText, news article bodies,
  TinyStories, held-out Gutenberg blocks) as they are (false positives) and
  with one held-out toxic test text put in the middle (recall).
- Language ID: the shipped detector's accuracy (lid.176, py3langid when lid.176 is unsure) per
  language on the lingua sentences and two-word snippets, macro average over all 75 languages and over those lid.176 knows.
- Speed: documents/s per detector on the ~4 KB benchmark corpus, one core.
Writes benchmarks/results/eval_classifiers.json (benchmarks.machine.write_results).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import SHARED_DATA, machine_info, shared_data_missing, write_results  # noqa: E402
from filters.detectors.langid import LangIdDetector  # noqa: E402
from filters.detectors.toxicity import CATEGORIES, ToxicityDetector, _profanity_check_max  # noqa: E402
from scripts.train_toxicity import book_blocks, category_targets, insert_middle, load_tweets, split_of  # noqa: E402

DATA = SHARED_DATA
# What the evaluation reads from the shared data folder (the benchmark corpus of the speed part included),
# checked before any work.
NEEDS = ("toxicity", "clean_text", "web/article_extraction_benchmark", "langid", "pii")
METHOD = (
    "held-out: toxicity on the Davidson+ToxiGen test split (train fit the model, dev the calibration and "
    "thresholds) and on Wikipedia Talk / Jigsaw (never trained on; alt-profanity-check saw Davidson and "
    "Wikipedia comments, so its figures there are in-sample); long documents: WikiText-2 test, news bodies, "
    "TinyStories, Gutenberg test blocks; langid: lingua sentences and word pairs, all rows (held-out half: "
    "benchmarks.eval_langid); speed: one timed pass per detector after a 5-document warm-up (models loaded), "
    "one thread (OMP_NUM_THREADS=1), docs per second of wall time and of this process's CPU time"
)


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def prf(y: np.ndarray, s: np.ndarray, thr: float) -> dict[str, float]:
    pred = s >= thr
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    neg = int((y == 0).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "n": len(y),
        "pos": int(y.sum()),
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "auc": roc_auc(y, s),
        "fpr": fp / neg if neg else float("nan"),
    }


def labeled_sets() -> dict[str, tuple[list[str], dict[str, np.ndarray]]]:
    """name -> (texts, {category: 0/1 array}) for the evaluation sets."""
    tox = DATA / "toxicity"
    test = [(t, lab) for t, lab, _ in load_tweets(tox) if split_of(t) == "test"]
    texts = [t for t, _ in test]
    targets = [category_targets(lab) for _, lab in test]
    sets = {"davidson+toxigen test": (texts, {c: np.array([g[c] for g in targets]) for c in CATEGORIES})}
    with (tox / "wiki_toxicity_nonfuzzed_testset.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    sets["wikipedia talk (CC BY-SA)"] = (
        [r["comment"] for r in rows],
        {"toxicity": np.array([r["toxic"] == "True" for r in rows], dtype=int)},
    )
    with (tox / "jigsaw_toxic_test_examples_ibm.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    sets["jigsaw sample (CC BY-SA)"] = (
        [r["comment_text"] for r in rows],
        {
            "toxicity": np.array([r["toxic"] == "1" for r in rows], dtype=int),
            "hate": np.array([r["identity_hate"] == "1" for r in rows], dtype=int),
            "profanity": np.array([r["obscene"] == "1" for r in rows], dtype=int),
        },
    )
    return sets


def clean_documents(size: int = 4000) -> dict[str, list[str]]:
    """Clean ~4 KB documents never trained on: WikiText (CC BY-SA, evaluation only), news article
    bodies, TinyStories (CDLA-Sharing, evaluation only), and the held-out *test* Gutenberg blocks."""
    wiki = (DATA / "clean_text/wikitext2_test.txt").read_text()
    gt = json.loads((DATA / "web/article_extraction_benchmark/ground-truth.json").read_text())
    stories = (DATA / "clean_text/tinystories_head.txt").read_text()
    return {
        "WikiText-2 test": [wiki[i : i + size] for i in range(0, len(wiki) - size, size)],
        "news article bodies": [
            gt[k]["articleBody"][:size] for k in sorted(gt) if len(gt[k]["articleBody"]) >= size // 2
        ],
        "TinyStories": [stories[i : i + size] for i in range(0, len(stories) - size, size)],
        "Gutenberg test blocks": [b for b, _, sp in book_blocks(DATA / "clean_text") if sp == "test"],
    }


def eval_toxicity(det: ToxicityDetector, thresholds: dict[str, float]) -> dict:
    res: dict = {"sets": {}, "long_docs": {}}
    sets = labeled_sets()
    for name, (texts, targets) in sets.items():
        out = det.detect_batch(texts)
        pc = _profanity_check_max(texts, det.window_chars)
        rows = {}
        for c, y in targets.items():
            s = np.array([o.scores[c] for o in out])
            rows[f"ours:{c}"] = prf(y, s, thresholds[c])
            if c in ("profanity", "toxicity"):
                rows[f"alt-profanity-check:{c}"] = prf(y, pc, 0.5)
        res["sets"][name] = rows
    # Long documents: FPR on clean 4 KB documents and recall with one held-out test text inside.
    texts, targets = sets["davidson+toxigen test"]
    pools = {c: [t for t, y in zip(texts, targets[c], strict=True) if y and len(t) < 400] for c in CATEGORIES}
    for name, docs in clean_documents().items():
        clean = det.detect_batch(docs)
        row = {"n": len(docs)}
        for c, pool in pools.items():
            mixed = det.detect_batch([insert_middle(d, pool[i % len(pool)]) for i, d in enumerate(docs)])
            row[c] = {
                "fpr_clean_docs": float(np.mean([o.scores[c] >= thresholds[c] for o in clean])),
                "recall_one_inserted_test_text": float(
                    np.mean([o.scores[c] >= thresholds[c] for o in mixed])
                ),
            }
        res["long_docs"][name] = row
    return res


def eval_speed(num_docs: int = 1000) -> dict:
    """Documents/s per detector on the ~4 KB benchmark corpus, one core, models loaded: per second of
    wall time and per second of this process's CPU time (the latter is what "per core" means on a
    shared, loaded machine)."""
    from benchmarks.corpus import load_texts
    from filters.detectors.quality import QualityDetector

    docs = load_texts(num_docs)
    out = {"docs": len(docs), "mean_chars": float(np.mean([len(d) for d in docs]))}
    dets = {
        f"toxicity (windows {ToxicityDetector().window_chars} B)": ToxicityDetector(),
        "toxicity + alt-profanity-check": ToxicityDetector(profanity_check=True),
        "langid (first 1,000 chars)": LangIdDetector(),
        "quality (4 checks)": QualityDetector(),
    }
    for name, det in dets.items():
        det.detect_batch(docs[:5])
        batch = docs if not name.startswith("quality") else docs[:200]
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(batch), 256):
            det.detect_batch(batch[i : i + 256])
        out[name] = {
            "wall": len(batch) / (time.perf_counter() - t0),
            "cpu": len(batch) / (time.process_time() - c0),
        }
    return out


def eval_langid() -> dict:
    import pandas as pd

    det = LangIdDetector()
    known = {lab.removeprefix("__label__") for lab in det.model.get_labels()}
    res = {}
    for name, fname in (
        ("sentences", "lingua_sentences_75lang_250each.tsv"),
        ("two-word snippets", "lingua_word_pairs_75lang_100each.tsv"),
    ):
        df = pd.read_csv(DATA / "langid" / fname, sep="\t", quoting=3, keep_default_na=False)
        t0 = time.perf_counter()
        pred = [r.labels["lang"] for r in det.detect_batch(df["text"].tolist())]
        secs = time.perf_counter() - t0
        acc = (df["lang"] == pd.Series(pred)).groupby(df["lang"]).mean()
        res[name] = {
            "per_language": {k: float(v) for k, v in acc.items()},
            "macro_all": float(acc.mean()),
            "macro_supported": float(acc[[lang in known for lang in acc.index]].mean()),
            "unsupported": sorted(lang for lang in acc.index if lang not in known),
            "texts_per_s": len(df) / secs,
        }
    return res


def fmt(x: float) -> str:
    return "n/a" if x != x else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Takes no options: it evaluates everything and writes benchmarks/results/eval_classifiers.json.",
    )
    ap.parse_args(argv)
    if any(shared_data_missing(DATA, need) for need in NEEDS):
        return 2
    thresholds = json.loads((ROOT / "filters/models/toxicity_thresholds.json").read_text())
    det = ToxicityDetector()
    tox = eval_toxicity(det, thresholds)
    lid = eval_langid()
    report = {"thresholds": thresholds, "toxicity": tox, "langid": lid, "speed": eval_speed()}
    machine = machine_info("fasttext-numpy2-wheel", "alt-profanity-check", "py3langid", "scikit-learn")
    print(
        f"# Classifier evaluation ({machine['date']}, nproc {machine['nproc']}, {machine['memory_gib']} GiB)\n"
    )
    print("## Toxicity (held-out splits; thresholds from dev, see filters/models/toxicity_thresholds.json)\n")
    print("| set | model:category | n | pos | precision | recall | F1 | ROC AUC | FPR at threshold |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rows in tox["sets"].items():
        for key, m in rows.items():
            print(
                f"| {name} | {key} | {m['n']} | {m['pos']} | {fmt(m['precision'])} | {fmt(m['recall'])} | "
                f"{fmt(m['f1'])} | {fmt(m['auc'])} | {fmt(m['fpr'])} |"
            )
    print(f"\n## Toxicity on ~4 KB clean documents (windows of {det.window_chars} bytes, max over windows)\n")
    print("| documents | n | category | FPR clean docs | recall, one held-out test text inserted |")
    print("|---|---|---|---|---|")
    for name, row in tox["long_docs"].items():
        for c in CATEGORIES:
            m = row[c]
            print(
                f"| {name} | {row['n']} | {c} | {fmt(m['fpr_clean_docs'])} | "
                f"{fmt(m['recall_one_inserted_test_text'])} |"
            )
    speed = report["speed"]
    print(f"\n## Speed ({speed['docs']} docs of {speed['mean_chars']:.0f} chars mean, 1 core)\n")
    print("| detector | docs/s (wall) | docs/s per CPU-second |\n|---|---|---|")
    for label, v in speed.items():
        if label not in ("docs", "mean_chars"):
            print(f"| {label} | {v['wall']:,.0f} | {v['cpu']:,.0f} |")
    print(
        "\n## Language ID (shipped: lid.176 + py3langid second opinion; held-out half: benchmarks.eval_langid)\n"
    )
    print("| set | macro acc (75 langs) | macro acc (langs lid.176 knows) | texts/s | not in lid.176 |")
    print("|---|---|---|---|---|")
    for name, m in lid.items():
        print(
            f"| {name} | {fmt(m['macro_all'])} | {fmt(m['macro_supported'])} | {m['texts_per_s']:,.0f} | "
            f"{' '.join(m['unsupported'])} |"
        )
    print("\nPer-language accuracy (sentences / two-word snippets):\n")
    print("| lang | sentences | two words |\n|---|---|---|")
    for lang, v in lid["sentences"]["per_language"].items():
        print(f"| {lang} | {v:.3f} | {lid['two-word snippets']['per_language'][lang]:.3f} |")
    write_results("eval_classifiers", report, method=METHOD, machine=machine)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
