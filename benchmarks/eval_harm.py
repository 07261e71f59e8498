"""Evaluate the fast-tier harm classifier on whole sources it never saw (train nor dev).

    nice -n 10 .venv/bin/python -m benchmarks.eval_harm [--data ../shared/data] [--out FILE]

Why: figures on held-out sources measure generalization, not memory. The split is
`scripts/train_harm.SOURCE_SPLIT` (decided before training); only its `test` rows are read here.

Reports (and writes benchmarks/results/eval_harm.json):
- per category and per test source: precision, recall, F1 at the shipped threshold, ROC AUC. A source
  with positives only is scored against XSTest's safe prompts as negatives (marked `negatives`);
- any-harm (some category at or above its threshold; AUC on max_c logit(p_c) - logit(t_c)) per
  source and pooled over chat-style prompts and over comments; alt-profanity-check (at 0.5) side by
  side;
- false-positive rates on clean ~4 KB prose (held-out books, WikiText, TinyStories), held-out
  MedQuAD collections and XSTest safe prompts;
- obfuscation: detection rate of the plain test positives vs the same texts rewritten with
  homoglyphs, leet, fullwidth, zero-width characters or spaced letters at half of the characters.
  The transforms are written here, independently of filters/normalize.py;
- speed: ms per 2 KB text on one core (p50 / p99), and ~4 KB documents per second.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.detectors.harm import CATEGORIES, DEFAULT_MANIFEST, HarmModel  # noqa: E402
from scripts.train_harm import NULL, Row, load_all  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "eval_harm.json"
PROMPT_SOURCES = ("xstest_prompts", "simplesafetytests", "harmbench_behaviors", "advbench")
COMMENT_SOURCES = ("surge_toxicity", "wiki_toxicity", "jigsaw_ibm", "toxigen")
OBFUSCATION_SAMPLE = 800
SPEED_TEXTS = 300
RATE = 0.5

# ---------------------------------------------------------------- obfuscation transforms (eval-only)
HOMOGLYPHS = {
    "a": "а",
    "c": "с",
    "e": "е",
    "i": "і",
    "j": "ј",
    "o": "о",
    "p": "р",
    "s": "ѕ",
    "x": "х",
    "y": "у",
    "h": "һ",
    "k": "κ",
    "v": "ν",
    "t": "τ",
}
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "b": "8", "g": "9", "l": "1"}


def _rng(text: str, name: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{name}\x00{text}".encode()).digest())


def _substitute(text: str, table: dict[str, str], name: str) -> str:
    rng = _rng(text, name)
    return "".join(table[ch.lower()] if ch.lower() in table and rng.random() < RATE else ch for ch in text)


def homoglyphs(text: str) -> str:
    """Latin letters -> Cyrillic/Greek lookalikes at half of the letters that have one."""
    return _substitute(text, HOMOGLYPHS, "homoglyph")


def leet(text: str) -> str:
    """Letters -> digits at half of the letters that have a leet form."""
    return _substitute(text, LEET, "leet")


def fullwidth(text: str) -> str:
    """Printable ASCII -> fullwidth forms at half of the characters."""
    rng = _rng(text, "fullwidth")
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" and rng.random() < RATE else ch for ch in text)


def zero_width(text: str) -> str:
    """A zero-width space (or joiner) after half of the characters."""
    rng = _rng(text, "zero_width")
    return "".join(ch + rng.choice("\u200b\u200c\u200d") if rng.random() < RATE else ch for ch in text)


def spaced(text: str) -> str:
    """A space inside words after half of the letters that another letter follows ("ki l l")."""
    rng = _rng(text, "spaced")
    out = []
    for i, ch in enumerate(text):
        out.append(ch)
        if ch.isalpha() and i + 1 < len(text) and text[i + 1].isalpha() and rng.random() < RATE:
            out.append(" ")
    return "".join(out)


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "homoglyph": homoglyphs,
    "leet": leet,
    "fullwidth": fullwidth,
    "zero_width": zero_width,
    "spaced": spaced,
}


# ---------------------------------------------------------------------------------------- metrics
def roc_auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(y, s)), 4) if 0 < y.sum() < len(y) else None


def prf(y: np.ndarray, pred: np.ndarray) -> dict[str, float | int]:
    """Precision, recall, F1 and counts of binary predictions."""
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f1, 4),
    }


def binary_report(y: np.ndarray, score: np.ndarray, thr: float) -> dict:
    return {**prf(y, score >= thr), "roc_auc": roc_auc(y, score)}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


class Scored:
    """Test rows with their calibrated scores (n x categories) and any-harm margins."""

    def __init__(self, model: HarmModel, rows: list[Row]):
        self.rows = rows
        self.thr = np.array([model.thresholds[c] for c in CATEGORIES])
        self.probs = np.array([[model.score(r.text).scores[c] for c in CATEGORIES] for r in rows]).reshape(
            -1, 8
        )
        self.any_margin = (_logit(self.probs) - _logit(self.thr)).max(axis=1) if rows else np.zeros(0)

    def source(self, name: str) -> np.ndarray:
        return np.array([r.source == name for r in self.rows], dtype=bool)

    def labels(self, k: int) -> np.ndarray:
        return np.array([r.labels[k] for r in self.rows])

    def harmful(self) -> np.ndarray:
        return np.array([r.harmful for r in self.rows])


def per_category(sc: Scored, safe: np.ndarray) -> dict:
    """Per category: pooled over test sources and per test source (one-class sources vs XSTest safe)."""
    out = {}
    sources = sorted({r.source for r in sc.rows})
    for k, cat in enumerate(CATEGORIES):
        lab = sc.labels(k)
        entry: dict = {"threshold": float(sc.thr[k]), "sources": {}}
        pooled = lab != NULL
        for src in sources:
            m = sc.source(src) & (lab != NULL)
            if not m.any():
                continue
            note = None
            if (lab[m] == 1).all():
                m = m | (safe & ~sc.source(src))
                note = "xstest safe prompts"
            elif (lab[m] == 0).all():
                entry["sources"][src] = {
                    "n": int(m.sum()),
                    "fpr": round(float((sc.probs[m, k] >= sc.thr[k]).mean()), 4),
                }
                continue
            rep = binary_report(lab[m], sc.probs[m, k], sc.thr[k])
            if note:
                rep["negatives"] = note
            entry["sources"][src] = rep
        if (lab[pooled] == 1).any():
            entry["pooled"] = binary_report(lab[pooled], sc.probs[pooled, k], sc.thr[k])
        out[cat] = entry
    return out


def any_harm(sc: Scored, profanity_check: np.ndarray) -> dict:
    """Any-harm per source with a harmful verdict, pooled prompts / comments, with alt-profanity-check."""
    harm = sc.harmful()
    out: dict = {"sources": {}}
    groups = {"chat_prompts": PROMPT_SOURCES, "comments": COMMENT_SOURCES}
    for name, srcs in [*[(s, (s,)) for s in sorted({r.source for r in sc.rows})], *groups.items()]:
        m = np.isin([r.source for r in sc.rows], srcs) & (harm != NULL)
        if not m.any():
            continue
        rep = {
            "winnow_harm": binary_report(harm[m], sc.any_margin[m], 0.0),
            "alt_profanity_check": binary_report(harm[m], profanity_check[m], 0.5),
        }
        (out if name in groups else out["sources"])[name] = rep
    return out


def clean_fpr(sc: Scored) -> dict:
    """False-positive rates (any category, and per category) on clean documents and safe prompts."""
    groups = {
        "clean_prose_4kb": [r.source.startswith("prose:") for r in sc.rows],
        "medquad_heldout": [r.source == "medquad_benign_medical" for r in sc.rows],
        "medquad_questions_heldout": [r.source == "medquad_questions" for r in sc.rows],
        "xstest_safe": [r.source == "xstest_prompts" and r.harmful == 0 for r in sc.rows],
    }
    out = {}
    for name, mask in groups.items():
        m = np.array(mask, dtype=bool)
        fired = sc.probs[m] >= sc.thr
        out[name] = {
            "n": int(m.sum()),
            "any_fpr": round(float(fired.any(axis=1).mean()), 4),
            "per_category": {c: round(float(fired[:, k].mean()), 4) for k, c in enumerate(CATEGORIES)},
        }
    return out


def obfuscation(model: HarmModel, sc: Scored) -> dict:
    """Detection rate (any-harm) of plain test positives vs each rewrite at half of the characters,
    and the false-positive rate of XSTest's safe prompts under the same rewrite (a rewrite that only
    makes text look odd must not raise scores either)."""
    idx = [
        i for i, r in enumerate(sc.rows) if r.harmful == 1 and r.source in PROMPT_SOURCES + COMMENT_SOURCES
    ]
    idx = sorted(idx, key=lambda i: hashlib.sha256(sc.rows[i].text.encode()).hexdigest())[:OBFUSCATION_SAMPLE]
    thr = sc.thr

    def detected(texts: list[str]) -> np.ndarray:
        return np.array(
            [any(model.score(t).scores[c] >= thr[k] for k, c in enumerate(CATEGORIES)) for t in texts]
        )

    plain = sc.any_margin[idx] >= 0
    safe = [r.text for r in sc.rows if r.source == "xstest_prompts" and r.harmful == 0]
    out = {
        "n": len(idx),
        "plain_detection_rate": round(float(plain.mean()), 4),
        "xstest_safe_n": len(safe),
        "xstest_safe_plain_fpr": round(float(detected(safe).mean()), 4),
    }
    for name, fn in TRANSFORMS.items():
        rate = float(detected([fn(sc.rows[i].text) for i in idx]).mean())
        out[name] = {
            "detection_rate": round(rate, 4),
            "points_vs_plain": round(100 * (rate - plain.mean()), 2),
            "xstest_safe_fpr": round(float(detected([fn(t) for t in safe]).mean()), 4),
        }
    return out


def speed(model: HarmModel, rows: list[Row]) -> dict:
    """ms per 2 KB text (one core, after warm-up) and ~4 KB documents per second."""
    prose = [r.text for r in rows if r.source.startswith("prose:")]
    texts_2k = [t[:2048] for t in prose[:SPEED_TEXTS]]
    for t in texts_2k[:10]:
        model.score(t)
    times = []
    for t in texts_2k:
        t0 = time.perf_counter()
        model.score(t)
        times.append(time.perf_counter() - t0)
    docs = prose[:SPEED_TEXTS]
    t0 = time.perf_counter()
    for d in docs:
        model.score(d)
    elapsed = time.perf_counter() - t0
    ms = np.array(times) * 1e3
    return {
        "texts": len(times),
        "ms_per_2kb_p50": round(float(np.percentile(ms, 50)), 3),
        "ms_per_2kb_p99": round(float(np.percentile(ms, 99)), 3),
        "docs_4kb_per_s": round(len(docs) / elapsed, 1),
        "mb_per_s": round(sum(len(d.encode()) for d in docs) / elapsed / 1e6, 3),
    }


def evaluate(data: Path, manifest: Path) -> dict:
    from profanity_check import predict_prob

    model = HarmModel(manifest)
    rows = [r for r in load_all(data) if r.split == "test"]
    sc = Scored(model, rows)
    safe = np.array([r.source == "xstest_prompts" and r.harmful == 0 for r in rows])
    apc = np.asarray(predict_prob([r.text for r in rows]), dtype=np.float64)
    return {
        "note": "test sources only (never trained or tuned on); see filters/models/HARM_MODEL_CARD.md",
        "per_category": per_category(sc, safe),
        "any_harm": any_harm(sc, apc),
        "false_positives": clean_fpr(sc),
        "obfuscation": obfuscation(model, sc),
        "speed_one_core": speed(model, rows),
    }


def print_summary(res: dict) -> None:
    print("category        source                          n    P      R      F1     AUC")
    for cat, entry in res["per_category"].items():
        for src, r in [*entry["sources"].items(), ("POOLED", entry.get("pooled"))]:
            if r and "f1" in r:
                auc = "  -  " if r["roc_auc"] is None else f"{r['roc_auc']:.3f}"
                print(
                    f"{cat:15} {src:30} {r['n']:5} {r['precision']:.3f}  {r['recall']:.3f}  {r['f1']:.3f}  {auc}"
                )
    print("any-harm (winnow_harm vs alt-profanity-check F1 / AUC)")
    ah = res["any_harm"]
    for name, r in [*ah["sources"].items(), *((k, v) for k, v in ah.items() if k != "sources")]:
        w, a = r["winnow_harm"], r["alt_profanity_check"]
        print(
            f"  {name:30} n={w['n']:5} F1 {w['f1']:.3f} / {a['f1']:.3f}  AUC {w['roc_auc']} / {a['roc_auc']}"
        )
    for name, r in res["false_positives"].items():
        print(f"FPR {name:18} n={r['n']:5} any {r['any_fpr']:.4f}")
    print("obfuscation", json.dumps(res["obfuscation"]))
    print("speed", json.dumps(res["speed_one_core"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder"
    )
    ap.add_argument("--out", type=Path, default=OUT, help="where the JSON results go")
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="the model manifest to evaluate")
    args = ap.parse_args(argv)
    if not (args.data / "harm" / "SOURCES.md").is_file():
        print(
            f"error: no harm data under {args.data}: pass --data pointing at the shared data folder",
            file=sys.stderr,
        )
        return 2
    res = evaluate(args.data, args.manifest)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print_summary(res)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
