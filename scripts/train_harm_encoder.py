"""Train the harm classifier's stronger tier: linear heads over sentence-encoder embeddings and the
fast tier's scores, calibrated and thresholded on dev, with the band of fast scores it judges.

    nice -n 10 .venv/bin/python scripts/train_harm_encoder.py [--data ../shared/data] [--out filters/models]

Why: the fast tier's n-grams do not generalize past the words seen in training (safe prompts with
harmful-sounding words fire, paraphrased harm is missed). all-MiniLM-L6-v2 embeddings place texts of
one meaning together. A head reads the embedding alone where its category's labels mark harmful text,
so that it does not inherit the n-grams' confident false positives; it also reads the fast tier's
eight log-odds where at least half of its train positives carry topic labels (AILuminate marks every
prompt of a hazard area, benign ones too), since a head on the embedding alone learns the topic there
(a suicide-prevention line scored 1.0 for self_harm while its positives were AILuminate's topic labels; since
the project's self-harm rows, `data/harm_self_harm`, they are a quarter of them and it reads the embedding
alone, with safe texts about self-harm among its negatives). MedQuAD windows about suicide and its
neighbours are negatives for every head. The project's violence and illicit rows (`data/harm_violence`,
`data/harm_illicit`) train those heads here and nothing in the fast tier (`HEADS_ONLY_SOURCES`). It runs only on the
windows its scope names (shipped: those the fast tier would fire on), so its cost is paid on a small share of windows.

Split: exactly the fast tier's (`scripts/harm_data.py` SOURCE_SPLIT: whole test sources held out; the heads also
read `HEADS_ONLY_SOURCES`, whose rows the fast tier skips, so the dev figures "fast alone" and the band edges of
violence and illicit include rows the fast tier never trained on),
with a deterministic sample of each source (the encoder runs at ~10-80 texts/s on one core): every
positive row of the rare categories, capped positives of hate and profanity, capped negatives per
source, and windows of a hashed sample of the clean books. C per head, Platt scaling, the threshold
and the band are chosen on dev only. Embeddings are cached in `.cache/harm_embeddings/` (keyed by the
text's sha256 and the encoder's weights; each text embedded alone, so an embedding does not depend on what else
was new), so reruns are fast; with the same thread count
(`WINNOW_TRAIN_THREADS`, default 1) on one CPU type the outputs are the same bytes (on another CPU type the heads differ by
~1e-3, likely through its floating-point kernels: HARM_MODEL_CARD.md).

Writes harm_encoder_heads.npz (float32 weights [dim + 8, 8] and bias) and
harm_encoder.json (sha256 of the heads file and of the fast tier's manifest it was trained with,
encoder weights sha256, max_tokens, Platt, thresholds, bands, dev figures).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.detectors.base import HarmModelError  # noqa: E402
from filters.detectors.encoder import MODEL_SHA256, TextEncoder  # noqa: E402
from filters.detectors.harm import (  # noqa: E402
    CATEGORIES,
    DEFAULT_MANIFEST,
    HarmModel,
    featurize,
    window_bounds,
)
from filters.detectors.harm_tiers import ENCODER_FORMAT, LOGIT_CLIP, LOGIT_SCALE, MAX_TOKENS, head_features  # noqa: E402
from filters.normalize import normalize  # noqa: E402
from scripts.harm_data import HEADS_ONLY_SOURCES, NULL, Row, load_all, missing_files, pack_documents  # noqa: E402
from scripts.training_kit import (  # noqa: E402
    average_precision,
    best_f1_threshold,
    out_problem,
    platt,
    write_json,
    write_npz,
)

SEED = 13
C_GRID = (0.25, 1.0, 4.0)
RARE = ("harassment", "sexual", "sexual_minors", "violence", "self_harm", "illicit")
CAP_POSITIVES = {"train": 1500, "dev": 500}  # hate, profanity positives per split
CAP_NEGATIVES = {"train": 700, "dev": 250}  # negative rows per source and split
PROSE_DOCS = {"train": 120, "dev": 80}  # clean ~4 KB documents per split (all their windows)
MAX_CLEAN_DOC_FPR = 0.01
# The band's lower edge: the fast score above which this share of dev positives lie.
BAND_RECALL = 0.98
CACHE = ROOT / ".cache" / "harm_embeddings"
# Windows of the medical hard negatives (MedQuAD) that talk about suicide and its neighbours: negatives for
# every category, so a head learns that information about self-harm is not self-harm.
SENSITIVE = re.compile(r"suicid|self-harm|self harm|overdos|depress|crisis line|hotline", re.IGNORECASE)
# Sources whose labels mark a topic, not the text (every prompt of a hazard area is positive, benign ones too).
WEAK_SOURCES = frozenset({"ailuminate_demo_en"})
# A category with at least this share of weak-labelled train positives also reads the fast scores.
MIXED_IF_WEAK_SHARE = 0.5


@dataclass(frozen=True)
class Item:
    """One window the heads train or are judged on (normalized text), with its row's labels."""

    text: str
    labels: tuple[int, ...]
    source: str
    doc: int = -1  # index of its clean document (windows of one document share it), else -1


def _rank(key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{SEED}\x00{key}".encode()).digest()[:8], "big")


def sample_items(rows: list[Row], split: str) -> tuple[list[Item], int]:
    """The split's sampled windows and how many clean documents they hold (see the module doc)."""
    rows = [r for r in rows if r.split == split]
    chosen: list[Row] = []
    for r in rows:
        if r.source.startswith("prose:") or r.source == "medquad_benign_medical":
            continue
        pos = {c for c, v in zip(CATEGORIES, r.labels, strict=True) if v == 1}
        if pos & set(RARE):
            chosen.append(r)
    for cat in ("hate", "profanity"):
        k = CATEGORIES.index(cat)
        pos = [r for r in rows if r.labels[k] == 1 and r not in chosen and not r.source.startswith("prose:")]
        chosen += sorted(pos, key=lambda r: _rank(r.text))[: CAP_POSITIVES[split]]
    taken = set(map(id, chosen))
    by_source: dict[str, list[Row]] = {}
    for r in rows:
        if id(r) in taken or r.source.startswith("prose:") or r.source == "medquad_benign_medical":
            continue
        if all(v != 1 for v in r.labels):
            by_source.setdefault(r.source, []).append(r)
    for src in sorted(by_source):
        chosen += sorted(by_source[src], key=lambda r: _rank(r.text))[: CAP_NEGATIVES[split]]
    items = [Item(first_window(r.text), r.labels, r.source) for r in chosen]
    zero = (0,) * len(CATEGORIES)
    for r in rows:
        if r.source == "medquad_benign_medical":
            text = normalize(r.text).text
            windows = (text[s:e] for s, e in window_bounds(text, 400))
            items += [Item(w, zero, r.source) for w in windows if SENSITIVE.search(w)]
    docs = [r.text for r in rows if r.source.startswith("prose:")]
    if split == "dev":
        docs += pack_documents([r.text for r in rows if r.source == "medquad_benign_medical"])
    docs = sorted(docs, key=_rank)[: PROSE_DOCS[split]]
    for d, doc in enumerate(docs):
        text = normalize(doc).text
        items += [Item(text[s:e], zero, "prose", d) for s, e in window_bounds(text, 400)]
    return items, len(docs)


def first_window(raw: str) -> str:
    text = normalize(raw).text
    s, e = window_bounds(text, 400)[0]
    return text[s:e]


def embed_cached(encoder: TextEncoder, texts: list[str]) -> np.ndarray:
    """Embeddings of the texts, computed once per (weights, max_tokens, text) and kept on disk.

    Each text is embedded alone, as run time embeds each window: in a batch, padding changes the products' shapes
    and an embedding's last bits would depend on its batch-mates, so the heads' bytes would depend on what the cache
    already held (2026-12-06, `benchmarks/results/rules/SHIP_RULE-2026-12-06-embed-alone.md`). The cache file of the
    batched embeddings (without "-alone" in its name) is not read."""
    CACHE.mkdir(parents=True, exist_ok=True)
    store = CACHE / f"{MODEL_SHA256[:16]}-{encoder.max_tokens}-alone.npz"
    known: dict[str, np.ndarray] = {}
    if store.exists():
        with np.load(store, allow_pickle=False) as z:
            known = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))
    keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    print(f"embedding {len(todo)} new texts ({len(texts) - len(todo)} cached)", flush=True)
    for start in range(0, len(todo), 2000):
        part = todo[start : start + 2000]
        vecs = encoder.embed([t for _, t in part], batch_size=1)
        known.update(zip([k for k, _ in part], vecs, strict=True))
        tmp = store.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
        os.replace(tmp, store)
        print(f"  {start + len(part)}/{len(todo)}", flush=True)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def fast_probs(model: HarmModel, texts: list[str]) -> np.ndarray:
    """The fast tier's calibrated probabilities of each (normalized, one-window) text."""
    out = np.zeros((len(texts), len(CATEGORIES)))
    for i, t in enumerate(texts):
        out[i] = model.calibrate(model.margins(*featurize(t, [(0, len(t))], model.spec), 1))[0]
    return out


def fit_head(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=SEED)
    clf.fit(x, y)
    return clf.coef_[0], float(clf.intercept_[0])


@dataclass
class Split:
    items: list[Item]
    n_docs: int
    emb: np.ndarray
    p_fast: np.ndarray

    @cached_property
    def y(self) -> np.ndarray:
        return np.array([it.labels for it in self.items], dtype=np.int64).reshape(-1, len(CATEGORIES))

    @cached_property
    def doc(self) -> np.ndarray:
        return np.array([it.doc for it in self.items])


def prepare(data: Path, encoder: TextEncoder, fast: HarmModel) -> tuple[Split, Split]:
    rows = load_all(data)
    out = []
    for split in ("train", "dev"):
        items, n_docs = sample_items(rows, split)
        texts = [it.text for it in items]
        print(f"{split}: {len(items)} windows ({n_docs} clean documents)", flush=True)
        out.append(Split(items, n_docs, embed_cached(encoder, texts), fast_probs(fast, texts)))
    return out[0], out[1]


def reads_fast_scores(items: list[Item], k: int) -> bool:
    """Whether category k's head also reads the fast tier's log-odds: only when at least
    MIXED_IF_WEAK_SHARE of its train positives carry weak (topic) labels, which an embedding-only head
    would learn as a topic. Counted over the sources the fast tier also reads: rows written to correct a head
    (`HEADS_ONLY_SOURCES`) do not change which inputs it reads (the illicit rows would have cut the illicit head off
    the log-odds that carry a request diluted in a long page, SHIP_RULE-2026-12-06-illicit-rows-heads.md)."""
    positives = [it for it in items if it.labels[k] == 1 and it.source not in HEADS_ONLY_SOURCES]
    weak = sum(it.source in WEAK_SOURCES for it in positives)
    return bool(positives) and weak / len(positives) >= MIXED_IF_WEAK_SHARE


def train(data: Path, out: Path) -> dict:
    fast_manifest = out / DEFAULT_MANIFEST.name  # the fast tier these heads read (trained first)
    fast = HarmModel(fast_manifest)
    encoder = TextEncoder(max_tokens=MAX_TOKENS)
    tr, dev = prepare(data, encoder, fast)
    x_tr = head_features(tr.emb, tr.p_fast)
    x_dev = head_features(dev.emb, dev.p_fast)
    n_feat = x_tr.shape[1]
    weights = np.zeros((n_feat, len(CATEGORIES)), dtype=np.float32)
    bias = np.zeros(len(CATEGORIES), dtype=np.float32)
    report: dict[str, dict] = {}
    platt_ab, thresholds, bands = {}, {}, {}
    is_doc = dev.doc >= 0
    n_emb = tr.emb.shape[1]
    mixed = {cat: reads_fast_scores(tr.items, k) for k, cat in enumerate(CATEGORIES)}
    # Clean documents: every head's limit counts the dev clean windows `confirm` sends the encoder at run time, those
    # on which the fast tier fires for any category (the head re-scores all eight there). Run time also keeps the
    # fast score of an unreadable, leet or one- or two-word window; counting those too can only raise a threshold.
    judged_doc = is_doc & (dev.p_fast >= np.array([fast.thresholds[c] for c in CATEGORIES])).any(axis=1)
    for k, cat in enumerate(CATEGORIES):
        m_tr, m_dev = tr.y[:, k] != NULL, (dev.y[:, k] != NULL) & ~is_doc
        y_tr, y_dev = tr.y[m_tr, k], dev.y[m_dev, k]
        cols = n_feat if mixed[cat] else n_emb  # an embedding-only head fits no fast-score weights
        best = None
        for c in C_GRID:
            w_cols, b = fit_head(x_tr[m_tr][:, :cols], y_tr, c)
            w = np.zeros(n_feat)
            w[:cols] = w_cols
            ap = average_precision(y_dev, x_dev[m_dev] @ w + b)
            if best is None or ap > best[0] + 1e-9:
                best = (ap, c, w, b)
        ap, c, w, b = best
        weights[:, k], bias[k] = w, b
        # Side by side on dev: encoder alone, fast alone, both (the head above).
        w_e, b_e = fit_head(tr.emb[m_tr], y_tr, c)
        ap_enc = average_precision(y_dev, dev.emb[m_dev] @ w_e + b_e)
        ap_fast = average_precision(y_dev, dev.p_fast[m_dev, k])
        margin = x_dev @ w + b
        a_p, b_p = platt(margin[m_dev], y_dev)
        p2 = 1 / (1 + np.exp(-(a_p * margin + b_p)))
        t_f1, f1 = best_f1_threshold(y_dev, p2[m_dev])
        lo = float(np.quantile(dev.p_fast[m_dev][y_dev == 1, k], 1 - BAND_RECALL, method="lower"))
        lo = min(lo, fast.thresholds[cat])
        doc_scores = np.zeros(dev.n_docs)
        in_band = dev.p_fast[:, k] >= lo
        np.maximum.at(doc_scores, dev.doc[judged_doc], p2[judged_doc])
        t_docs = float(np.quantile(doc_scores, 1 - MAX_CLEAN_DOC_FPR, method="higher")) + 1e-6
        thr = round(min(max(t_f1, t_docs), 1 - 1e-9), 10)
        platt_ab[cat] = {"a": round(a_p, 6), "b": round(b_p, 6)}
        thresholds[cat] = thr
        bands[cat] = round(lo, 10)
        pred = p2[m_dev] >= thr
        tp = int((pred & (y_dev == 1)).sum())
        report[cat] = {
            "C": c,
            "reads_fast_scores": mixed[cat],
            "dev_rows": int(m_dev.sum()),
            "dev_positives": int(y_dev.sum()),
            "dev_ap_fast_alone": round(ap_fast, 4),
            "dev_ap_encoder_alone": round(ap_enc, 4),
            "dev_ap_both": round(ap, 4),  # the shipped head's (an embedding-only head: the embedding alone)
            "dev_best_f1": round(f1, 4),
            "dev_f1_at_threshold": round(2 * tp / max(int(pred.sum()) + int(y_dev.sum()), 1), 4),
            "threshold_from": "dev F1" if t_f1 >= t_docs else "dev clean-doc FPR",
            "dev_clean_doc_fpr": round(float((doc_scores >= thr).mean()), 4),
            "band_low": round(lo, 6),
            "dev_windows_in_band": round(float(in_band.mean()), 4),
            "dev_clean_windows_in_band": round(float(in_band[is_doc].mean()), 4),
        }
        print(cat, json.dumps(report[cat]), flush=True)
    any_band = np.zeros(len(dev.items), dtype=bool)
    for k, cat in enumerate(CATEGORIES):
        any_band |= dev.p_fast[:, k] >= bands[cat]
    out.mkdir(parents=True, exist_ok=True)
    heads = out / "harm_encoder_heads.npz"
    write_npz(heads, {"weights": weights, "bias": bias})
    manifest = {
        "format": ENCODER_FORMAT,
        "categories": list(CATEGORIES),
        "encoder": {"model_sha256": MODEL_SHA256, "max_tokens": MAX_TOKENS},
        "fast_manifest_sha256": hashlib.sha256(fast_manifest.read_bytes()).hexdigest(),
        "heads": {"file": heads.name, "sha256": hashlib.sha256(heads.read_bytes()).hexdigest()},
        "features": {
            "embedding": "unit norm",
            "fast_log_odds_clip": LOGIT_CLIP,
            "fast_log_odds_scale": LOGIT_SCALE,
        },
        "platt": platt_ab,
        "thresholds": thresholds,
        "band_low": bands,
        "dev": report,
        "dev_any_window_in_band": round(float(any_band.mean()), 4),
        "dev_clean_windows_any_in_band": round(float(any_band[is_doc].mean()), 4),
        "training": {
            "seed": SEED,
            "c_grid": list(C_GRID),
            "cap_positives": CAP_POSITIVES,
            "cap_negatives": CAP_NEGATIVES,
            "prose_docs": PROSE_DOCS,
            "band_recall": BAND_RECALL,
            "max_clean_doc_fpr": MAX_CLEAN_DOC_FPR,
            "train_windows": len(tr.items),
            "dev_windows": len(dev.items),
        },
    }
    write_json(out / "harm_encoder.json", manifest)
    return manifest


def fast_tier_problem(out: Path) -> str | None:
    """Why `out` cannot take this tier (None if it can): it must be a usable folder holding the fast tier
    these heads read (`scripts/train_harm.py` writes it there first)."""
    if problem := out_problem(out):
        return problem
    manifest = out / DEFAULT_MANIFEST.name
    retrain = (
        f"scripts/train_harm.py --out {out} (both tiers; --fast-only for the fast tier, then this again)"
    )
    if not manifest.is_file():
        return f"{manifest} not found: --out must hold the fast tier: first run {retrain}"
    try:
        HarmModel(manifest)
    except HarmModelError as e:
        return f"{e}: retrain the fast tier: {retrain}"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "filters" / "models", help="where the model files go")
    args = ap.parse_args(argv)
    missing = missing_files(args.data)
    if missing:
        print(
            f"error: {args.data / missing[0]} not found: pass --data pointing at the shared data folder",
            file=sys.stderr,
        )
        return 2
    if problem := fast_tier_problem(args.out):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(int(os.environ.get("WINNOW_TRAIN_THREADS", "1")))
    train(args.data, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
