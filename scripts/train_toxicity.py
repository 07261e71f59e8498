"""Train, calibrate and threshold the bundled offline toxicity model, reproducibly.

    .venv/bin/python scripts/train_toxicity.py [--data ../shared/data/toxicity] [--out filters/models]

Data (MIT licensed only; the CC BY-SA Wikipedia Talk / Jigsaw sets are never
used here, they are evaluation-only in benchmarks/eval_classifiers.py):
- Davidson et al. 2017 tweets (labels: see `load_examples`);
- ToxiGen seed sentences: hate -> hate, neutral -> clean;
- public-domain prose windows (Project Gutenberg, Shakespeare; ../clean_text) -> clean.

Split: every text goes to train / dev / test by a salted SHA-256 of its
normalized form (70 / 15 / 15), so exact duplicates never straddle splits and
the split is fixed by `--seed`. Train fits fastText (one thread: deterministic);
dev fits Platt calibration and picks thresholds (max F1 on calibrated dev
probabilities); test is never touched here (the evaluation reads it through
`split_of`).

Writes `toxicity.ftz` (quantized), `toxicity_calibration.json` (Platt a, b per
category, split sizes, seed, hyper-parameters) and `toxicity_thresholds.json`
({category: threshold}).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.detectors.toxicity import CATEGORIES, calibrate, preprocess  # noqa: E402

SEED = 20240501
HYPER = {
    "epoch": 25,
    "lr": 0.5,
    "wordNgrams": 2,
    "dim": 32,
    "minn": 0,
    "maxn": 0,
    "bucket": 200_000,
    "loss": "ova",
    "thread": 1,
    "seed": 1,
    "minCount": 1,
}
QUANT = {"cutoff": 60_000, "retrain": True, "qnorm": True, "dsub": 2}


def split_of(text: str, seed: int = SEED) -> str:
    """'train' / 'dev' / 'test' from a salted hash of the normalized text (70/15/15)."""
    h = int.from_bytes(hashlib.sha256(f"{seed}\x00{preprocess(text)}".encode()).digest()[:8], "big") % 100
    return "train" if h < 70 else "dev" if h < 85 else "test"


def load_examples(data: Path) -> list[tuple[str, set[str], str]]:
    """(text, fastText labels, source) for the MIT-licensed sets.

    Labels: Davidson class 0 (hate speech) -> {hate, offensive} (annotators saw
    hate speech as offensive too, and it nearly always is), class 1 ->
    {offensive}, class 2 -> {clean}; ToxiGen hate -> {hate}, neutral -> {clean}.
    """
    out = []
    with (data / "davidson_labeled_data.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cls = int(row["class"])
            labels = {0: {"hate", "offensive"}, 1: {"offensive"}, 2: {"clean"}}[cls]
            out.append((row["tweet"], labels, "davidson"))
    with (data / "toxigen_seed_sentences.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out.append((row["text"], {"hate"} if row["label"] == "hate" else {"clean"}, "toxigen"))
    out += book_windows(data.parent / "clean_text")
    return out


def book_windows(clean_text: Path, per_book: int = 2500, chars: int = 300) -> list[tuple[str, set[str], str]]:
    """Public-domain prose (Project Gutenberg books, Shakespeare) cut into ~300-char windows, as
    `clean`: tweets alone teach the model that any long-form prose is offensive. Evenly spaced
    windows, deterministic."""
    from filters.detectors.toxicity import windows

    books = [*sorted((clean_text / "gutenberg").glob("*.txt")), clean_text / "tinyshakespeare_input.txt"]
    out = []
    for book in books:
        text = book.read_text(encoding="utf-8-sig", errors="replace")
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
        wins = [w for p in paragraphs for w in windows(p, chars) if len(w) >= 40]
        step = max(1, len(wins) // per_book)
        out += [(w, {"clean"}, f"book:{book.name}") for w in wins[::step][:per_book]]
    return out


def category_targets(labels: set[str]) -> dict[str, int]:
    """Binary ground truth per detector category."""
    return {
        "hate": int("hate" in labels),
        "profanity": int("offensive" in labels),
        "toxicity": int("clean" not in labels),
    }


def fit_platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic regression of y on logit(raw), (almost) unregularized."""
    from sklearn.linear_model import LogisticRegression

    x = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / (1 - np.clip(raw, 1e-6, 1 - 1e-6)))
    lr = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000).fit(x.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def max_f1_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The threshold on p maximizing F1 (ties: the higher threshold), and that F1."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(1 - ys)
    f1 = 2 * tp / (tp + fp + ys.sum())
    # only cut between distinct scores
    valid = np.r_[ps[1:] < ps[:-1], True]
    best = int(np.argmax(np.where(valid, f1, -1)))
    return float(ps[best]), float(f1[best])


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "toxicity")
    ap.add_argument("--out", type=Path, default=ROOT / "filters" / "models")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)

    import fasttext

    examples = load_examples(args.data)
    splits: dict[str, list[tuple[str, set[str], str]]] = {"train": [], "dev": [], "test": []}
    for ex in examples:
        splits[split_of(ex[0], args.seed)].append(ex)
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        with train_file.open("w", encoding="utf-8") as f:
            for text, labels, _ in splits["train"]:
                p = preprocess(text)
                if p:
                    f.write(" ".join(f"__label__{lab}" for lab in sorted(labels)) + " " + p + "\n")
        model = fasttext.train_supervised(input=str(train_file), verbose=0, **HYPER)
        model.quantize(input=str(train_file), verbose=0, **QUANT)
        model_tmp = Path(tmp) / "toxicity.ftz"
        model.save_model(str(model_tmp))
        _write_atomic(args.out / "toxicity.ftz", model_tmp.read_bytes())

    # Calibrate and threshold on dev with the saved (quantized) model, exactly as shipped.
    from filters.detectors.toxicity import ToxicityDetector

    det = ToxicityDetector(model_path=str(args.out / "toxicity.ftz"))
    dev_pieces = [preprocess(t) for t, _, _ in splits["dev"]]
    raw = det.raw_scores(dev_pieces)
    sources = {"hate": raw["hate"], "profanity": raw["offensive"], "toxicity": 1.0 - raw["clean"]}
    targets = [category_targets(labels) for _, labels, _ in splits["dev"]]
    platt, thresholds, dev_f1 = {}, {}, {}
    for c in CATEGORIES:
        y = np.array([t[c] for t in targets])
        a, b = fit_platt(sources[c], y)
        platt[c] = {"a": a, "b": b}
        thr, f1 = max_f1_threshold(calibrate(sources[c], a, b), y)
        thresholds[c] = round(thr, 4)
        dev_f1[c] = round(f1, 4)
    calib = {
        "platt": platt,
        "threshold_rule": "max F1 on the dev split (calibrated probabilities)",
        "dev_f1_at_threshold": dev_f1,
        "seed": args.seed,
        "split": "sha256(seed, normalized text) % 100: <70 train, <85 dev, else test",
        "sizes": {k: len(v) for k, v in splits.items()},
        "fasttext": HYPER,
        "quantize": QUANT,
        "data": [
            "toxicity/davidson_labeled_data.csv (MIT)",
            "toxicity/toxigen_seed_sentences.csv (MIT)",
            "clean_text/gutenberg/*.txt, clean_text/tinyshakespeare_input.txt (public domain), up to 2,500 windows each",
        ],
    }
    _write_atomic(args.out / "toxicity_calibration.json", (json.dumps(calib, indent=2) + "\n").encode())
    _write_atomic(args.out / "toxicity_thresholds.json", (json.dumps(thresholds, indent=2) + "\n").encode())
    size = (args.out / "toxicity.ftz").stat().st_size
    print(
        json.dumps({"thresholds": thresholds, "dev_f1": dev_f1, "sizes": calib["sizes"], "ftz_bytes": size})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
