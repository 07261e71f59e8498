"""Train, calibrate and threshold the fast-tier harm classifier (filters/detectors/harm.py).

    nice -n 10 .venv/bin/python scripts/train_harm.py [--data ../shared/data] [--out filters/models] [--fast-only]

Without --fast-only it then trains the stronger tier on this fast tier (scripts/train_harm_encoder.py).

Why a script: the shipped model must be rebuilt from the shared data by anyone, byte for byte on the
same CPU type (other instruction sets move the last bits: see the model card). The data and its split
(`SOURCE_SPLIT`, decided before any training or tuning: whole sources held out for test) are read by
`scripts/harm_data.py`; nothing share-alike or unlicensed is trained on. Rows of `HEADS_ONLY_SOURCES` (the
project's violence and illicit rows) are skipped: only the stronger tier learns from them.

Training: one L2 logistic regression per category (liblinear, one thread, fixed seed, balanced class
weights) on the rows where that category is labelled 0 or 1 (null is masked, never read as 0),
features from `filters.detectors.harm.featurize` on the normalized text, exactly as at inference.
Benign long documents (MedQuAD answers, public-domain books) are cut into the detector's windows.
Dev: Platt scaling per category, then the threshold = the dev F1 optimum, raised if needed so that at
most `MAX_CLEAN_DOC_FPR` of the dev ~4 KB clean prose documents (max over windows) reach it.

Writes harm_fast.npz (float16 weights, float32 bias; fixed zip timestamps), harm_calibration.json
and harm_fast.json (manifest: feature spec, sha256 of both files, split, counts, hyper-parameters).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.detectors.harm import (  # noqa: E402
    CATEGORIES,
    FORMAT,
    FeatureSpec,
    featurize,
    linear_margins,
    window_bounds,
)
from filters.normalize import normalize  # noqa: E402
from scripts.harm_data import (  # noqa: E402
    DEV_PERCENT,
    HEADS_ONLY_SOURCES,
    MEDQUAD_SPLIT,
    NULL,
    PROSE_SPLIT,
    SEED,
    SOURCE_SPLIT,
    Row,
    load_all,
    missing_files,
    pack_documents,
)
from scripts.training_kit import (  # noqa: E402
    average_precision,
    best_f1_threshold,
    out_problem,
    platt,
    progress,
    write_json,
    write_npz,
)

# The first run chose C on dev among 0.5 / 2 / 8 per category; every head chose 8, so 8 is fixed
# (a grid costs one fit per value and head).
C_GRID = (8.0,)
# Positives are re-weighted to balance each head (rare categories have ~100 positives).
CLASS_WEIGHT = "balanced"
MAX_CLEAN_DOC_FPR = 0.01
MEDQUAD_WINDOWS_PER_DOC = 1


class TrainingDataError(ValueError):
    """The data cannot train a head (a category without both classes in train or dev)."""


def row_windows(row: Row, spec: FeatureSpec) -> Iterator[tuple[str, list[tuple[int, int]]]]:
    """The normalized text and the windows a row is featurized over (benign documents: the
    detector's windows, at most MEDQUAD_WINDOWS_PER_DOC for MedQuAD; others: the whole text)."""
    text = normalize(row.text).text
    if not row.windowed:
        yield text, [(0, len(text))]
        return
    bounds = window_bounds(text, spec.window_chars)
    if row.source == "medquad_benign_medical":
        bounds = bounds[:MEDQUAD_WINDOWS_PER_DOC]
    yield text, bounds


def design_matrix(rows: list[Row], spec: FeatureSpec):  # -> (scipy csr, labels array)
    """Sparse features (one row per window) and the matching label rows."""
    import scipy.sparse as sp

    all_r, all_c, all_v, labels = [], [], [], []
    offset = 0
    for row in rows:
        for text, bounds in row_windows(row, spec):
            r, c, v = featurize(text, bounds, spec)
            all_r.append(r + offset)
            all_c.append(c)
            all_v.append(v)
            labels += [row.labels] * len(bounds)
            offset += len(bounds)
    x = sp.csr_matrix(
        (np.concatenate(all_v), (np.concatenate(all_r), np.concatenate(all_c))),
        shape=(offset, spec.n_features),
        dtype=np.float32,
    )
    x.sum_duplicates()
    return x, np.array(labels, dtype=np.int8).reshape(-1, len(CATEGORIES))


def check_rows_have_both_classes(rows: list[Row]) -> None:
    """`check_both_classes` on the rows, before featurizing them: every row gives at least one window
    with its labels, so the windows hold the same classes as the rows."""
    train_rows = [r for r in rows if r.split == "train"]
    dev_rows = [r for r in rows if r.split == "dev" and not r.source.startswith("prose:")]
    for split, part in (("train", train_rows), ("dev", dev_rows)):
        y = np.array([r.labels for r in part], dtype=np.int8).reshape(-1, len(CATEGORIES))
        check_both_classes(y, split)


def check_both_classes(y: np.ndarray, split: str) -> None:
    """Every head needs positives and negatives in train and in dev (for C, Platt and threshold)."""
    for k, cat in enumerate(CATEGORIES):
        if not ((y[:, k] == 1).any() and (y[:, k] == 0).any()):
            raise TrainingDataError(
                f"category {cat!r} lacks positive or negative {split} rows: add labelled data"
            )


def fit_head(x, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """One category's logistic regression on its labelled rows (given masked): (weights, bias)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(
        C=c, solver="liblinear", class_weight=CLASS_WEIGHT, random_state=SEED, max_iter=200
    )
    clf.fit(x, y)
    return clf.coef_[0], float(clf.intercept_[0])


def doc_max_margins(docs: list[str], spec: FeatureSpec, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Max over windows of the linear margins, per document (what the detector computes)."""
    out = []
    for doc in docs:
        text = normalize(doc).text
        bounds = window_bounds(text, spec.window_chars)
        out.append(linear_margins(featurize(text, bounds, spec), len(bounds), w, b).max(axis=0))
    return np.array(out)


def split_counts(rows: list[Row]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        src = out.setdefault(r.source, {})
        src[r.split] = src.get(r.split, 0) + 1
    return dict(sorted(out.items()))


def train(data: Path, out: Path) -> dict:
    """Fit, choose C per category on dev, calibrate, threshold; write the three model files."""
    spec = FeatureSpec()
    rows = [r for r in load_all(data) if r.source not in HEADS_ONLY_SOURCES]
    check_rows_have_both_classes(rows)  # a data problem is one error line, before the long work
    per_split = {s: sum(r.split == s for r in rows) for s in ("train", "dev", "test")}
    progress(f"loaded {len(rows)} rows from {data}: " + ", ".join(f"{s} {n}" for s, n in per_split.items()))
    train_rows = [r for r in rows if r.split == "train"]
    dev_rows = [r for r in rows if r.split == "dev" and not r.source.startswith("prose:")]
    dev_docs = [r.text for r in rows if r.split == "dev" and r.source.startswith("prose:")]
    dev_docs += pack_documents(
        [r.text for r in rows if r.split == "dev" and r.source == "medquad_benign_medical"]
    )
    progress(f"featurizing {len(train_rows)} train and {len(dev_rows)} dev rows")
    x_tr, y_tr = design_matrix(train_rows, spec)
    x_dev, y_dev = design_matrix(dev_rows, spec)
    progress(f"train windows {x_tr.shape[0]}, dev windows {x_dev.shape[0]}, dev clean docs {len(dev_docs)}")
    check_both_classes(y_tr, "train")
    check_both_classes(y_dev, "dev")
    weights = np.zeros((spec.n_features, len(CATEGORIES)), dtype=np.float16)
    bias = np.zeros(len(CATEGORIES), dtype=np.float32)
    chosen_c, dev_ap = {}, {}
    for k, cat in enumerate(CATEGORIES):
        mask = y_dev[:, k] != NULL
        tr_mask = y_tr[:, k] != NULL
        x_k, y_k = x_tr[tr_mask], y_tr[tr_mask, k]
        progress(f"fitting {cat} ({k + 1}/{len(CATEGORIES)}): {x_k.shape[0]} train windows")
        best = None
        for c in C_GRID:
            w, b = fit_head(x_k, y_k, c)
            w16 = w.astype(np.float16)
            ap = average_precision(y_dev[mask, k], x_dev[mask] @ w16.astype(np.float32) + b)
            if best is None or ap > best[0] + 1e-9:
                best = (ap, c, w16, b)
        dev_ap[cat], chosen_c[cat], weights[:, k], bias[k] = best
        progress(f"  {cat}: C={best[1]} dev AP {best[0]:.3f}")
    w32 = weights.astype(np.float32)
    progress(f"calibrating on dev: {x_dev.shape[0]} windows, scoring {len(dev_docs)} clean documents")
    dev_margin = x_dev @ w32 + bias
    doc_margin = doc_max_margins(dev_docs, spec, w32, bias)
    platt_ab, thresholds, dev_report = {}, {}, {}
    for k, cat in enumerate(CATEGORIES):
        mask = y_dev[:, k] != NULL
        y, m = y_dev[mask, k].astype(np.int64), dev_margin[mask, k]
        a, b = platt(m, y)
        p = 1 / (1 + np.exp(-(a * m + b)))
        p_docs = 1 / (1 + np.exp(-(a * doc_margin[:, k] + b)))
        thr_f1, best_f1 = best_f1_threshold(y, p)
        thr_docs = float(np.quantile(p_docs, 1 - MAX_CLEAN_DOC_FPR, method="higher")) + 1e-6
        thr = round(min(max(thr_f1, thr_docs), 1 - 1e-9), 10)
        platt_ab[cat] = {"a": round(a, 6), "b": round(b, 6)}
        thresholds[f"harm:{cat}"] = thr
        pred = p >= thr
        dev_report[cat] = {
            "C": chosen_c[cat],
            "dev_rows": int(mask.sum()),
            "dev_positives": int(y.sum()),
            "dev_average_precision": round(dev_ap[cat], 4),
            "dev_best_f1": round(best_f1, 4),
            "dev_f1_at_threshold": round(_f1(y, pred), 4),
            "threshold_from": "dev F1" if thr_f1 >= thr_docs else "dev clean-doc FPR",
            "dev_clean_doc_fpr": round(float((p_docs >= thr).mean()), 4),
        }
    # sexual_minors also reads the sexual score of a window that speaks of a minor, at sexual's threshold.
    thresholds["harm:sexual_with_minor"] = thresholds["harm:sexual"]
    progress(f"writing harm_fast.npz, harm_calibration.json, harm_fast.json to {out}")
    return _write(out, spec, weights, bias, platt_ab, thresholds, dev_report, rows, x_tr.shape[0])


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = int((pred & (y == 1)).sum())
    return 2 * tp / max(int(pred.sum()) + int(y.sum()), 1)


def _write(out: Path, spec, weights, bias, platt_ab, thresholds, dev_report, rows, n_train) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    write_npz(out / "harm_fast.npz", {"weights": weights, "bias": bias})
    calibration = {"platt": platt_ab, "thresholds": thresholds, "dev": dev_report}
    write_json(out / "harm_calibration.json", calibration)
    manifest = {
        "format": FORMAT,
        "categories": list(CATEGORIES),
        "features": spec.to_json(),
        "weights": {"file": "harm_fast.npz", "sha256": _sha(out / "harm_fast.npz")},
        "calibration": {"file": "harm_calibration.json", "sha256": _sha(out / "harm_calibration.json")},
        "training": {
            "seed": SEED,
            "c_grid": list(C_GRID),
            "dev_percent": DEV_PERCENT,
            "max_clean_doc_fpr": MAX_CLEAN_DOC_FPR,
            "train_windows": n_train,
            "source_split": {k: list(v) for k, v in SOURCE_SPLIT.items() if k not in HEADS_ONLY_SOURCES},
            "medquad_split": MEDQUAD_SPLIT,
            "prose_split": PROSE_SPLIT,
            "rows_per_split": split_counts(rows),
        },
    }
    write_json(out / "harm_fast.json", manifest)
    return calibration


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "filters" / "models", help="where the model files go")
    ap.add_argument(
        "--fast-only",
        action="store_true",
        help="train the fast tier only (the encoder tier, scripts/train_harm_encoder.py, reads it)",
    )
    args = ap.parse_args(argv)
    missing = missing_files(args.data)
    if missing:
        print(
            f"error: {args.data / missing[0]} not found: pass --data pointing at the shared data folder",
            file=sys.stderr,
        )
        return 2
    if problem := out_problem(args.out):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        cal = train(args.data, args.out)
    except TrainingDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(cal["thresholds"], indent=1))
    print(json.dumps(cal["dev"], indent=1))
    if not args.fast_only:  # one command rebuilds both tiers: the heads are pinned to this fast tier
        from scripts.train_harm_encoder import train as train_encoder_tier

        train_encoder_tier(args.data, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
