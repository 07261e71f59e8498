"""Exploration: does fine-tuning the encoder's top layers beat linear heads on its frozen embeddings,
on test sources never trained on? (Not a shipped model; read rows of samples 1 + 2.)

    PYTHONPATH=. OMP_NUM_THREADS=2 nice -n 5 .venv/bin/python benchmarks/results/rules/runtime-scope-all/ft_probe.py --tune-layers 2 --epochs 3 --out R.json

(run 2026-12-06 04:59-05:03 UTC on both cores of the AMD EPYC VM: ft_probe-tune2-epochs3.{json,log}; the
baseline side is logistic heads, C=1, balanced, on the frozen embeddings of the same windows)
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from benchmarks.eval_harm import SHARED_DATA, load_news, sample
from filters.detectors.encoder import TextEncoder
from filters.detectors.harm import CATEGORIES
from scripts.harm_data import NULL, load_all
from scripts.train_harm_encoder import first_window, sample_items

SEED = 13


def lower_states(enc: TextEncoder, texts: list[str], n_frozen: int) -> list[torch.Tensor]:
    """Hidden states after the first `n_frozen` layers, one [tokens, 384] tensor per text."""
    ids = enc.tokenize(texts)
    model = enc._model
    out: list[torch.Tensor | None] = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    with torch.inference_mode():
        for s in range(0, len(order), 64):
            rows = order[s : s + 64]
            t = max(len(ids[i]) for i in rows)
            x = torch.zeros((len(rows), t), dtype=torch.long)
            m = torch.zeros((len(rows), t), dtype=torch.long)
            for r, i in enumerate(rows):
                x[r, : len(ids[i])] = torch.tensor(ids[i])
                m[r, : len(ids[i])] = 1
            h = model.ln(model.tok(x) + model.pos.weight[:t] + model.typ.weight[0])
            keep = m.bool()[:, None, None, :]
            for layer in model.layers[:n_frozen]:
                h = layer(h, keep)
            for r, i in enumerate(rows):
                out[i] = h[r, : len(ids[i])].clone()
    return out  # type: ignore[return-value]


class Top(torch.nn.Module):
    def __init__(self, layers: list[torch.nn.Module]):
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)
        self.head = torch.nn.Linear(384, len(CATEGORIES))

    def embed(self, states: list[torch.Tensor]) -> torch.Tensor:
        t = max(len(s) for s in states)
        x = torch.zeros((len(states), t, 384))
        m = torch.zeros((len(states), t))
        for r, s in enumerate(states):
            x[r, : len(s)] = s
            m[r, : len(s)] = 1
        keep = m.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, keep)
        pooled = (x * m[..., None]).sum(1) / m.sum(1, keepdim=True)
        return F.normalize(pooled, dim=1)

    def forward(self, states: list[torch.Tensor]) -> torch.Tensor:
        return self.head(self.embed(states))


def batches(n: int, lengths: list[int], size: int, rng: random.Random) -> list[list[int]]:
    order = sorted(range(n), key=lambda i: (lengths[i], rng.random()))
    out = [order[s : s + size] for s in range(0, n, size)]
    rng.shuffle(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tune-layers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--out", default="ft_probe.json")  # the run used /tmp/s18/ft/result.json
    args = ap.parse_args()
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    t0 = time.time()
    rows = load_all(SHARED_DATA)
    train_items, _ = sample_items(rows, "train")
    dev_items, _ = sample_items(rows, "dev")
    test_rows = []
    pool = [r for r in rows if r.split == "test"] + load_news(SHARED_DATA)
    for off in (0, 300):
        test_rows += sample(pool, 300, off)
    test_texts = [first_window(r.text) for r in test_rows]
    print(f"train {len(train_items)} dev {len(dev_items)} test {len(test_rows)}", flush=True)
    enc = TextEncoder(max_tokens=128)
    n_frozen = 6 - args.tune_layers
    st_tr = lower_states(enc, [it.text for it in train_items], n_frozen)
    st_dev = lower_states(enc, [it.text for it in dev_items], n_frozen)
    st_te = lower_states(enc, test_texts, n_frozen)
    print(f"states cached {time.time() - t0:.0f}s", flush=True)
    y_tr = torch.tensor([it.labels for it in train_items], dtype=torch.float32)
    y_dev = np.array([it.labels for it in dev_items])
    y_te = np.array([r.labels for r in test_rows])

    import copy

    frozen_top = Top([copy.deepcopy(layer) for layer in enc._model.layers[n_frozen:]]).eval()
    model = Top([copy.deepcopy(layer) for layer in enc._model.layers[n_frozen:]])

    def embed_all(m: Top, states: list[torch.Tensor]) -> np.ndarray:
        out = np.zeros((len(states), 384), dtype=np.float32)
        order = sorted(range(len(states)), key=lambda i: len(states[i]))
        with torch.inference_mode():
            for s in range(0, len(order), 64):
                rows_ = order[s : s + 64]
                out[rows_] = m.embed([states[i] for i in rows_]).numpy()
        return out

    def logits_all(m: Top, states: list[torch.Tensor]) -> np.ndarray:
        out = np.zeros((len(states), len(CATEGORIES)), dtype=np.float32)
        order = sorted(range(len(states)), key=lambda i: len(states[i]))
        with torch.inference_mode():
            for s in range(0, len(order), 64):
                rows_ = order[s : s + 64]
                out[rows_] = m([states[i] for i in rows_]).numpy()
        return out

    # Baseline: logistic heads (C=1, balanced) on the frozen embeddings, same train items.
    e_tr, e_dev, e_te = (
        embed_all(frozen_top, st_tr),
        embed_all(frozen_top, st_dev),
        embed_all(frozen_top, st_te),
    )
    base_dev, base_te = np.zeros(y_dev.shape), np.zeros(y_te.shape)
    for k in range(len(CATEGORIES)):
        m = y_tr[:, k].numpy() != NULL
        clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=3000, random_state=SEED)
        clf.fit(e_tr[m], y_tr[m, k].numpy())
        base_dev[:, k] = clf.decision_function(e_dev)
        base_te[:, k] = clf.decision_function(e_te)
    print(f"baseline heads {time.time() - t0:.0f}s", flush=True)

    mask_tr = (y_tr != NULL).float()
    pos = ((y_tr == 1).float() * mask_tr).sum(0)
    neg = ((y_tr == 0).float() * mask_tr).sum(0)
    pos_weight = (neg / pos.clamp(min=1)).clamp(max=50)
    opt = torch.optim.AdamW(
        [
            {"params": model.layers.parameters(), "lr": args.lr},
            {"params": model.head.parameters(), "lr": 1e-3},
        ],
        weight_decay=0.01,
    )
    lengths = [len(s) for s in st_tr]
    for epoch in range(args.epochs):
        model.train()
        total, nb = 0.0, 0
        for b in batches(len(st_tr), lengths, 32, rng):
            logits = model([st_tr[i] for i in b])
            yb, mb = y_tr[b].clamp(min=0), mask_tr[b]
            loss = F.binary_cross_entropy_with_logits(
                logits, yb, weight=mb, pos_weight=pos_weight, reduction="sum"
            )
            loss = loss / mb.sum().clamp(min=1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss)
            nb += 1
        model.eval()
        ft_dev = logits_all(model, st_dev)
        aps = {}
        for k, c in enumerate(CATEGORIES):
            m = y_dev[:, k] != NULL
            if (y_dev[m, k] == 1).any():
                aps[c] = round(float(average_precision_score(y_dev[m, k], ft_dev[m, k])), 4)
        print(f"epoch {epoch} loss {total / nb:.4f} dev AP {aps} {time.time() - t0:.0f}s", flush=True)
    ft_dev = logits_all(model, st_dev)
    ft_te = logits_all(model, st_te)

    def report(y: np.ndarray, s: np.ndarray, src: list[str]) -> dict:
        out: dict = {}
        for k, c in enumerate(CATEGORIES):
            m = y[:, k] != NULL
            if m.sum() and 0 < (y[m, k] == 1).sum() < m.sum():
                out[c] = {
                    "n": int(m.sum()),
                    "pos": int((y[m, k] == 1).sum()),
                    "auc": round(float(roc_auc_score(y[m, k], s[m, k])), 4),
                    "ap": round(float(average_precision_score(y[m, k], s[m, k])), 4),
                }
        return out

    src = [r.source for r in test_rows]
    harmful = np.array([r.harmful for r in test_rows])
    res = {
        "args": vars(args),
        "dev": {"frozen_heads": report(y_dev, base_dev, []), "fine_tuned": report(y_dev, ft_dev, [])},
        "test": {"frozen_heads": report(y_te, base_te, src), "fine_tuned": report(y_te, ft_te, src)},
    }
    # any-harm per source group: max over categories of the logit, AUC where both classes exist
    for name, s in (("frozen_heads", base_te), ("fine_tuned", ft_te)):
        anyh = s.max(axis=1)
        per = {}
        for source in sorted(set(src)):
            m = np.array([x == source for x in src]) & (harmful >= 0)
            if m.sum() and 0 < harmful[m].sum() < m.sum():
                per[source] = round(float(roc_auc_score(harmful[m], anyh[m])), 4)
        res["test"][name]["any_harm_auc_per_source"] = per
    print(json.dumps(res, indent=1))
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
