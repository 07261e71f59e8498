"""Train, calibrate and threshold the bundled offline toxicity model, reproducibly.

    .venv/bin/python scripts/train_toxicity.py [--data ../shared/data] [--out filters/models]

--data is the shared data folder; the script reads its toxicity/ and clean_text/ subfolders.

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
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.detectors.toxicity import CATEGORIES, calibrate, preprocess, windows  # noqa: E402
from kit.files import write_bytes_atomic  # noqa: E402
from scripts.training_kit import best_f1_threshold, out_problem, progress  # noqa: E402

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


BLOCK_CHARS = 4000
WINDOW_SIZES = (150, 400, 1000)
CLEAN_TWEET_REPEAT = 3
MAX_DOC_FPR = 0.02


def split_of(text: str, seed: int = SEED) -> str:
    """'train' / 'dev' / 'test' from a salted hash of the normalized text (70/15/15)."""
    h = int.from_bytes(hashlib.sha256(f"{seed}\x00{preprocess(text)}".encode()).digest()[:8], "big") % 100
    return "train" if h < 70 else "dev" if h < 85 else "test"


def load_tweets(data: Path) -> list[tuple[str, set[str], str]]:
    """(text, fastText labels, source) for the MIT-licensed labeled sets.

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
    return out


def load_examples(data: Path) -> list[tuple[str, set[str], str]]:
    """The labeled sets plus clean public-domain prose windows (source "book:<file>:<block>")."""
    return load_tweets(data) + book_windows(data.parent / "clean_text")


def book_blocks(clean_text: Path, seed: int = SEED) -> list[tuple[str, str, str]]:
    """(block text, source, split) for ~4 KB consecutive raw blocks of the public-domain books
    (Project Gutenberg with their headers and licence footers, Shakespeare). Blocks, not windows,
    go to train / dev / test (salted hash of file name and block index), so the long clean
    documents thresholds are chosen on (dev) share no text with training windows."""
    books = [*sorted((clean_text / "gutenberg").glob("*.txt")), clean_text / "tinyshakespeare_input.txt"]
    out = []
    for book in books:
        text = book.read_text(encoding="utf-8-sig", errors="replace").replace("\r\n", "\n")
        for j, i in enumerate(range(0, len(text), BLOCK_CHARS)):
            block = text[i : i + BLOCK_CHARS]
            if len(block) < BLOCK_CHARS // 2:
                continue
            out.append((block, f"book:{book.name}:{j}", split_of(f"{book.name}:{j}", seed)))
    return out


def book_windows(clean_text: Path, seed: int = SEED) -> list[tuple[str, set[str], str]]:
    """Clean windows of several lengths (the detector's window, paragraphs, tweet-sized) from
    the book blocks, labeled `clean`: tweets alone teach the model that long-form prose is
    offensive. Each window carries its block's source; deterministic."""
    from filters.detectors.toxicity import window_bytes

    out = []
    for block, source, _ in book_blocks(clean_text, seed):
        data = block.encode("utf-8")
        for size in WINDOW_SIZES:
            for piece in window_bytes(data, size):
                text = piece.decode("utf-8", "ignore")
                if len(text.split()) >= 4:
                    out.append((text, {"clean"}, source))
    return out


def example_split(text: str, source: str, seed: int = SEED) -> str:
    """Book windows follow their block's split; other examples are split by their own text."""
    if source.startswith("book:"):
        return split_of(source.removeprefix("book:"), seed)
    return split_of(text, seed)


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


def threshold_for_fpr(clean_doc_scores: np.ndarray, max_fpr: float) -> float:
    """The smallest threshold (rounded up to 4 decimals) at which at most `max_fpr` of the clean
    documents score >= it: a flag needs a score strictly above the allowed false positives."""
    s = np.sort(clean_doc_scores)[::-1]
    allowed = int(np.floor(max_fpr * len(s)))
    return float(np.ceil((s[allowed] + 1e-9) * 1e4) / 1e4) if allowed < len(s) else 0.0


def insert_middle(doc: str, line: str) -> str:
    """`doc` with `line` put on its own line at the line break nearest its middle."""
    mid = doc.rfind("\n", 0, len(doc) // 2)
    mid = len(doc) // 2 if mid < 0 else mid
    return doc[:mid] + "\n" + line + "\n" + doc[mid:]


def mixed_examples(train: list[tuple[str, set[str], str]], seed: int) -> list[tuple[str, set[str], str]]:
    """Each labeled text also put inside a clean prose window (random window, random line break
    position), with the text's labels: a slur in a long page must still dominate the window's
    bag of words, and the surrounding prose must not change a clean text's label."""
    rng = random.Random(seed + 1)
    prose = [t for t, _, src in train if src.startswith("book:")]
    out = []
    for text, labels, source in train:
        if source.startswith("book:") or not prose:
            continue
        window = prose[rng.randrange(len(prose))]
        cut = window.find(" ", rng.randrange(len(window)))
        cut = len(window) if cut < 0 else cut
        out.append((window[:cut] + "\n" + text + "\n" + window[cut:], labels, source + "+prose"))
    return out


def write_train_file(path: Path, train: list[tuple[str, set[str], str]], seed: int) -> int:
    """fastText input, one example a line, deterministically shuffled; Davidson's clean tweets are
    repeated so that, within tweets, classes are closer to balanced (otherwise every word common
    in tweets leans offensive, since 77 % of Davidson is offensive)."""
    lines = []
    for text, labels, source in train + mixed_examples(train, seed):
        p = preprocess(text)
        if not p:
            continue
        line = " ".join(f"__label__{lab}" for lab in sorted(labels)) + " " + p + "\n"
        repeat = CLEAN_TWEET_REPEAT if source.startswith("davidson") and labels == {"clean"} else 1
        lines += [line] * repeat
    random.Random(seed).shuffle(lines)
    path.write_text("".join(lines), encoding="utf-8")
    return len(lines)


REQUIRED_FILES = (
    "toxicity/davidson_labeled_data.csv",
    "toxicity/toxigen_seed_sentences.csv",
    "clean_text/tinyshakespeare_input.txt",
)


def data_problem(data: Path) -> str | None:
    """Why `data` is not the shared data folder this script reads (None if it is)."""
    missing = [rel for rel in REQUIRED_FILES if not (data / rel).is_file()]
    if not (data / "clean_text" / "gutenberg").is_dir():
        missing.append("clean_text/gutenberg/")
    if not missing:
        return None
    if (data / "davidson_labeled_data.csv").is_file():  # the former meaning of --data
        return f"--data {data} is the toxicity subfolder: pass the shared data folder above it, --data {data.parent}"
    return f"{data / missing[0]} not found: pass --data pointing at the shared data folder"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data",
        help="the shared data folder (its toxicity/ and clean_text/ are read)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "filters" / "models", help="where the model files go")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    if problem := data_problem(args.data) or out_problem(args.out):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    tox, clean_text = args.data / "toxicity", args.data / "clean_text"

    import fasttext

    from filters.detectors.toxicity import DEFAULT_WINDOW, ToxicityDetector

    progress(f"loading {tox} and {clean_text}")
    examples = load_examples(tox)
    splits: dict[str, list[tuple[str, set[str], str]]] = {"train": [], "dev": [], "test": []}
    for ex in examples:
        splits[example_split(ex[0], ex[2], args.seed)].append(ex)
    progress(f"{len(examples)} examples: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        n_lines = write_train_file(train_file, splits["train"], args.seed)
        progress(f"fitting fastText on {n_lines} train lines ({HYPER['epoch']} epochs, one thread)")
        model = fasttext.train_supervised(input=str(train_file), verbose=0, **HYPER)
        progress("quantizing")
        model.quantize(input=str(train_file), verbose=0, **QUANT)
        model_tmp = Path(tmp) / "toxicity.ftz"
        model.save_model(str(model_tmp))
        progress(f"writing {args.out / 'toxicity.ftz'}")
        write_bytes_atomic(args.out / "toxicity.ftz", model_tmp.read_bytes())

    # Calibrate on dev (tweets + detector-sized prose windows) with the saved quantized model.
    det = ToxicityDetector(model_path=str(args.out / "toxicity.ftz"))
    dev = [ex for ex in splits["dev"] if not ex[2].startswith("book:")]
    dev += [
        (w, {"clean"}, "book")
        for block, _, split in book_blocks(clean_text, args.seed)
        if split == "dev"
        for w in windows(block, DEFAULT_WINDOW)
    ]
    progress(f"calibrating on {len(dev)} dev texts and windows")
    raw = det.raw_scores([preprocess(t) for t, _, _ in dev])
    sources = {"hate": raw["hate"], "profanity": raw["offensive"], "toxicity": 1.0 - raw["clean"]}
    targets = [category_targets(labels) for _, labels, _ in dev]
    platt, f1_thresholds, dev_f1 = {}, {}, {}
    for c in CATEGORIES:
        progress(f"  Platt scaling and max-F1 threshold: {c}")
        y = np.array([t[c] for t in targets])
        a, b = fit_platt(sources[c], y)
        platt[c] = {"a": a, "b": b}
        thr, f1 = best_f1_threshold(y, calibrate(sources[c], a, b))
        f1_thresholds[c] = thr
        dev_f1[c] = round(f1, 4)
    calib_path = args.out / "toxicity_calibration.json"
    write_bytes_atomic(calib_path, (json.dumps({"platt": platt}) + "\n").encode())

    # Thresholds at the document level: dev book blocks (~4 KB clean documents) must stay under
    # MAX_DOC_FPR; the threshold is the larger of that and the max-F1 threshold on dev texts.
    det = ToxicityDetector(model_path=str(args.out / "toxicity.ftz"), calibration_path=str(calib_path))
    dev_docs = [b for b, _, split in book_blocks(clean_text, args.seed) if split == "dev"]
    progress(f"thresholds: scoring {len(dev_docs)} dev clean documents")
    clean_scores = det.detect_batch(dev_docs)
    toxic_dev = {
        c: [t for t, labels, _ in dev if category_targets(labels)[c] and len(t) < 400] for c in CATEGORIES
    }
    thresholds, doc_metrics = {}, {}
    for c in CATEGORIES:
        progress(f"  {c}: threshold and recall with one inserted dev text")
        s = np.array([r.scores[c] for r in clean_scores])
        thr = max(threshold_for_fpr(s, MAX_DOC_FPR), round(f1_thresholds[c], 4))
        ceiling = float(calibrate(np.array([1.0]), platt[c]["a"], platt[c]["b"])[0])
        if thr > ceiling:
            # fastText's float32 probabilities saturate at 1.0: when more than MAX_DOC_FPR of the clean
            # dev documents hold a saturated window, no threshold separates them; never ship a dead one.
            raise SystemExit(f"{c}: threshold {thr} is above the highest reachable score {ceiling:.4f}")
        thresholds[c] = round(thr, 4)
        pool = toxic_dev[c]
        mixed = det.detect_batch([insert_middle(d, pool[i % len(pool)]) for i, d in enumerate(dev_docs)])
        doc_metrics[c] = {
            "fpr_clean_docs": round(float(np.mean(s >= thr)), 4),
            "recall_one_inserted_dev_text": round(float(np.mean([r.scores[c] >= thr for r in mixed])), 4),
        }
    calib = {
        "platt": platt,
        "threshold_rule": (
            f"max(max-F1 threshold on dev texts, lowest threshold with <= {MAX_DOC_FPR:.0%} false positives "
            f"on {len(dev_docs)} dev ~{BLOCK_CHARS}-char book blocks scored as documents)"
        ),
        "max_f1_thresholds": {c: round(v, 4) for c, v in f1_thresholds.items()},
        "dev_f1_at_max_f1_threshold": dev_f1,
        "dev_documents": doc_metrics,
        "window_chars": DEFAULT_WINDOW,
        "seed": args.seed,
        "split": "sha256(seed, normalized text) % 100: <70 train, <85 dev, else test; books by block",
        "sizes": {k: len(v) for k, v in splits.items()},
        "train_lines": n_lines,
        "clean_tweet_repeat": CLEAN_TWEET_REPEAT,
        "fasttext": HYPER,
        "quantize": QUANT,
        "data": [
            "toxicity/davidson_labeled_data.csv (MIT)",
            "toxicity/toxigen_seed_sentences.csv (MIT)",
            "clean_text/gutenberg/*.txt, clean_text/tinyshakespeare_input.txt (public domain), "
            f"windows of {'/'.join(map(str, WINDOW_SIZES))} bytes of {BLOCK_CHARS}-char blocks",
        ],
    }
    progress(f"writing {calib_path.name} and toxicity_thresholds.json to {args.out}")
    write_bytes_atomic(calib_path, (json.dumps(calib, indent=2) + "\n").encode())
    write_bytes_atomic(
        args.out / "toxicity_thresholds.json", (json.dumps(thresholds, indent=2) + "\n").encode()
    )
    size = (args.out / "toxicity.ftz").stat().st_size
    print(
        json.dumps(
            {
                "thresholds": thresholds,
                "dev_f1": dev_f1,
                "dev_documents": doc_metrics,
                "sizes": calib["sizes"],
                "ftz_bytes": size,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
