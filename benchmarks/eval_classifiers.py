"""Evaluate the classifier detectors on labeled data never used for training or calibration.

    .venv/bin/python -m benchmarks.eval_classifiers

- Toxicity (bundled fastText model): the held-out *test* split of Davidson +
  ToxiGen (scripts/train_toxicity.split_of; train fit the model, dev fit the
  calibration and thresholds), and the CC BY-SA Wikipedia Talk and Jigsaw
  sets (never trained on). Precision / recall / F1 at the shipped threshold,
  ROC AUC, and the false-positive rate at the shipped threshold; side by side
  with alt-profanity-check alone (at its own 0.5) and combined (max).
  Note: alt-profanity-check was itself trained on Davidson and on Wikipedia
  comments, so its figures on those sets are optimistic (seen data).
- Long documents: clean ~4 KB documents (news article bodies, WikiText) as
  they are (false positives) and with one held-out toxic test sentence put in
  the middle (recall), whole-text scoring vs windowed scoring (max over windows).
- Language ID: lid.176 accuracy per language on the lingua sentences and
  two-word snippets, macro average over all 75 languages and over those lid.176 knows.
- Speed: toxicity documents/s on ~4 KB documents, one core.
Writes benchmarks/out/eval_classifiers.json.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.detectors.langid import LangIdDetector  # noqa: E402
from filters.detectors.toxicity import CATEGORIES, ToxicityDetector, _profanity_check_max  # noqa: E402
from scripts.train_toxicity import category_targets, load_examples, split_of  # noqa: E402

DATA = Path(os.environ.get("WINNOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
OUT = ROOT / "benchmarks" / "out"


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


def machine() -> dict[str, str]:
    mem = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.split("\n")[1].split()[1]
    return {
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
        "mem_gib": mem,
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def labeled_sets() -> dict[str, tuple[list[str], dict[str, np.ndarray]]]:
    """name -> (texts, {category: 0/1 array}) for the evaluation sets."""
    tox = DATA / "toxicity"
    test = [
        (t, lab)
        for t, lab, src in load_examples(tox)
        if split_of(t) == "test" and not src.startswith("book:")
    ]
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


def clean_documents(n: int = 200, size: int = 4000) -> list[str]:
    gt = json.loads((DATA / "web/article_extraction_benchmark/ground-truth.json").read_text())
    docs = [gt[k]["articleBody"][:size] for k in sorted(gt) if len(gt[k]["articleBody"]) >= size // 2]
    wiki = (DATA / "clean_text/wikitext2_test.txt").read_text()
    docs += [wiki[i : i + size] for i in range(0, len(wiki) - size, size)]
    return docs[:n]


def eval_toxicity(det: ToxicityDetector, thresholds: dict[str, float]) -> dict:
    res: dict = {"sets": {}, "long_docs": {}}
    for name, (texts, targets) in labeled_sets().items():
        out = det.detect_batch(texts)
        pc = _profanity_check_max(texts, det.window_chars)
        rows = {}
        for c, y in targets.items():
            s = np.array([o.scores[c] for o in out])
            rows[f"ours:{c}"] = prf(y, s, thresholds[c])
            if c in ("profanity", "toxicity"):
                rows[f"alt-profanity-check:{c}"] = prf(y, pc, 0.5)
                rows[f"max(ours, alt-profanity-check):{c}"] = prf(y, np.maximum(s, pc), thresholds[c])
        res["sets"][name] = rows
    # Long documents: FPR on clean 4 KB documents and recall with one toxic sentence inside.
    texts, targets = labeled_sets()["davidson+toxigen test"]
    toxic = [t for t, y in zip(texts, targets["toxicity"], strict=False) if y == 1]
    hate = [t for t, y in zip(texts, targets["hate"], strict=False) if y == 1]
    docs = clean_documents()
    for label, window in (("windowed (300 chars)", det.window_chars), ("whole text", 10**9)):
        d = ToxicityDetector(det.model_path, det.calibration_path, window_chars=window)
        clean = d.detect_batch(docs)
        row = {}
        for c, pool in (("toxicity", toxic), ("hate", hate), ("profanity", toxic)):
            mixed = [
                doc[: len(doc) // 2] + "\n" + pool[i % len(pool)] + "\n" + doc[len(doc) // 2 :]
                for i, doc in enumerate(docs)
            ]
            got = d.detect_batch(mixed)
            row[c] = {
                "fpr_clean_docs": float(np.mean([o.scores[c] >= thresholds[c] for o in clean])),
                "recall_one_toxic_sentence": float(np.mean([o.scores[c] >= thresholds[c] for o in got])),
            }
        res["long_docs"][label] = row
    # Speed on ~4 KB documents (one core; the model is already loaded).
    bench = (docs * 3)[:500]
    for label, window in (("windowed (300 chars)", det.window_chars), ("whole text", 10**9)):
        d = ToxicityDetector(det.model_path, det.calibration_path, window_chars=window)
        d.detect_batch(bench[:10])
        t0 = time.perf_counter()
        d.detect_batch(bench)
        res.setdefault("speed_docs_per_s", {})[label] = len(bench) / (time.perf_counter() - t0)
    d = ToxicityDetector(det.model_path, det.calibration_path, profanity_check=True)
    d.detect_batch(bench[:10])
    t0 = time.perf_counter()
    d.detect_batch(bench)
    res["speed_docs_per_s"]["windowed + alt-profanity-check"] = len(bench) / (time.perf_counter() - t0)
    res["doc_chars_mean"] = float(np.mean([len(x) for x in bench]))
    return res


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


def main() -> int:
    thresholds = json.loads((ROOT / "filters/models/toxicity_thresholds.json").read_text())
    det = ToxicityDetector()
    tox = eval_toxicity(det, thresholds)
    lid = eval_langid()
    report = {"machine": machine(), "thresholds": thresholds, "toxicity": tox, "langid": lid}
    print(
        f"# Classifier evaluation ({report['machine']['date']}, nproc {report['machine']['nproc']}, "
        f"{report['machine']['mem_gib']} GiB)\n"
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
    print("\n## Toxicity on ~4 KB clean documents (200 news/WikiText docs)\n")
    print("| scoring | category | FPR clean docs | recall, one toxic test sentence inserted |")
    print("|---|---|---|---|")
    for label, row in tox["long_docs"].items():
        for c, m in row.items():
            print(f"| {label} | {c} | {fmt(m['fpr_clean_docs'])} | {fmt(m['recall_one_toxic_sentence'])} |")
    print(f"\n## Toxicity speed (docs of {tox['doc_chars_mean']:.0f} chars, 1 core)\n")
    print("| scoring | docs/s |\n|---|---|")
    for label, v in tox["speed_docs_per_s"].items():
        print(f"| {label} | {v:,.0f} |")
    print("\n## Language ID (fastText lid.176)\n")
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
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / "eval_classifiers.json.tmp"
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, OUT / "eval_classifiers.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
