"""Choose `detectors.harm.encoder_min_readable`: below which share of readable words the harm
encoder's verdict on a window is not asked for and the fast tier's score stands.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python scripts/tune_encoder_gate.py [--data ../shared/data] [--out FILE]

Why: with the encoder confirming, rewrites that space letters apart lost 11 points of detection
(the fast tier alone gained 1.25): the encoder cannot read "ki l l" and clears what the n-grams found.

Protocol, fixed before the first run of this script:
- Data: dev rows only (`scripts/harm_data.py` split). Plain harmful rows (some label 1) and plain
  safe rows (every label 0), each the first 1,500 by sha256 of the text, not documents; and every
  dev clean ~4 KB document (held-out books' and MedQuAD's dev collections).
- Rewrites written for this tuning only, unlike the evaluation's (`benchmarks/eval_harm.py` uses
  rate 0.5 and other characters): `spaced35` puts a space after 35% of the letters another letter
  follows; `symbols35` writes 35% of a, e, i, o, s, l, t as @ 3 ! 0 $ 1 +.
- Every text is judged by the classifier alone in runtime mode (terms left out: the gate only moves
  classifier scores), once with the encoder confirming and once with the fast tier alone; a gate
  at tau keeps the fast score of every judged window whose readable share is below tau.
- Grid tau in {0, 0.30, 0.35, ..., 0.80}. Admissible: the dev clean-document rate rises by at most
  0.5 points, any-harm F1 on plain rows falls by at most 0.005, and neither rewrite of the safe rows
  fires on more than 2 points more rows, all against tau = 0. Chosen: the admissible tau with the
  largest worst-rewrite detection rate, then the largest detection rate of the other rewrite, then the
  smaller tau. (Changed 2026-12-05: the tie-break read only the worst rewrite, so when one rewrite was
  flat over tau the other was never looked at.)

Writes benchmarks/results/tune_encoder_gate.json (every tau's figures and the choice; --out: elsewhere).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import RESULTS, machine_info, require_writable_file, write_results  # noqa: E402
from filters.detectors.harm import HarmDetector  # noqa: E402
from filters.detectors.harm_tiers import encoder_input  # noqa: E402
from filters.normalize import normalize  # noqa: E402
from scripts.harm_data import Row, load_all, missing_files  # noqa: E402

PER_CLASS = 1500
RATE = 0.35
GRID = (0.0, *(round(0.30 + 0.05 * k, 2) for k in range(11)))
MAX_CLEAN_RISE = 0.005
MAX_F1_FALL = 0.005
MAX_SAFE_REWRITE_RISE = 0.02
SYMBOLS = {"a": "@", "e": "3", "i": "!", "o": "0", "s": "$", "l": "1", "t": "+"}


def _rng(text: str, name: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{name}\x00{text}".encode()).digest())


def spaced35(text: str) -> str:
    """A space after 35% of the letters that another letter follows."""
    rng, out = _rng(text, "spaced35"), []
    for ch, nxt in zip(text, text[1:] + " ", strict=True):
        out.append(ch)
        if ch.isalpha() and nxt.isalpha() and rng.random() < RATE:
            out.append(" ")
    return "".join(out)


def symbols35(text: str) -> str:
    """35% of a, e, i, o, s, l, t written as symbols or digits."""
    rng = _rng(text, "symbols35")
    return "".join(SYMBOLS[c.lower()] if c.lower() in SYMBOLS and rng.random() < RATE else c for c in text)


class Judged:
    """Per text, per window: fast scores, encoder-confirmed scores and the readable share."""

    def __init__(self, fast: HarmDetector, confirmed: HarmDetector, texts: list[str]):
        views = [normalize(t) for t in texts]
        vocab = confirmed.encoder.vocabulary()
        self.fast = [w.probs for w in fast.window_scores(views)]
        scored = confirmed.window_scores(views)
        self.enc = [w.probs for w in scored]
        self.share = [
            np.array([encoder_input(v.text[s:e], vocab)[1] for s, e in w.bounds])
            for v, w in zip(views, scored, strict=True)
        ]
        self.thr = confirmed._fast_thr

    def fired(self, tau: float) -> np.ndarray:
        """Whether some category fires on each text when windows below `tau` keep the fast score."""
        out = []
        for f, e, s in zip(self.fast, self.enc, self.share, strict=True):
            probs = np.where((s < tau)[:, None], f, e)
            out.append(bool((probs >= self.thr).any()))
        return np.array(out)


def _first(rows: list[Row], n: int) -> list[str]:
    return sorted((r.text for r in rows), key=lambda t: hashlib.sha256(t.encode()).hexdigest())[:n]


def f1(pos: np.ndarray, neg: np.ndarray) -> float:
    tp, fp, fn = pos.sum(), neg.sum(), (~pos).sum()
    return float(2 * tp / max(2 * tp + fp + fn, 1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument(
        "--out", type=Path, default=RESULTS / "tune_encoder_gate.json", help="the results JSON file to write"
    )
    args = ap.parse_args(argv)
    if missing := missing_files(args.data):
        print(
            f"error: {args.data} lacks {', '.join(missing)}: point --data at the shared data", file=sys.stderr
        )
        return 2
    require_writable_file(args.out)
    if args.out.suffix != ".json":  # the results writer names the file <stem>.json in --out's folder
        print(f"error: --out {args.out} must end in .json (the results file is JSON)", file=sys.stderr)
        return 2
    dev = [r for r in load_all(args.data) if r.split == "dev"]
    pos = _first([r for r in dev if not r.windowed and 1 in r.labels], PER_CLASS)
    neg = _first([r for r in dev if not r.windowed and set(r.labels) == {0}], PER_CLASS)
    docs = [r.text for r in dev if r.windowed]
    fast = HarmDetector(encoder="off", mode="runtime")
    # The readable-share gate off here (`Judged.fired` applies each tau itself); the leet gate stays on,
    # as in the shipped detector (since the ninth slice it reads the normalized window).
    confirmed = HarmDetector(
        encoder="required", mode="runtime", runtime_scope="confirm", encoder_min_readable=0.0
    )
    sets = {
        "pos": pos,
        "neg": neg,
        "docs": docs,
        "pos_spaced35": [spaced35(t) for t in pos],
        "pos_symbols35": [symbols35(t) for t in pos],
        "neg_spaced35": [spaced35(t) for t in neg],
        "neg_symbols35": [symbols35(t) for t in neg],
    }
    judged = {}
    for name, texts in sets.items():
        print(f"judging {name}: {len(texts)} texts", file=sys.stderr, flush=True)
        judged[name] = Judged(fast, confirmed, texts)
    rows = []
    for tau in GRID:
        fired = {name: j.fired(tau) for name, j in judged.items()}
        rows.append(
            {
                "tau": tau,
                "plain_detection": float(fired["pos"].mean()),
                "plain_safe_fpr": float(fired["neg"].mean()),
                "plain_f1": f1(fired["pos"], fired["neg"]),
                "clean_doc_rate": float(fired["docs"].mean()),
                **{f"{k}_rate": float(v.mean()) for k, v in fired.items() if "35" in k},
            }
        )
    base = rows[0]

    def admissible(r: dict) -> bool:
        return (
            r["clean_doc_rate"] - base["clean_doc_rate"] <= MAX_CLEAN_RISE
            and r["plain_f1"] >= base["plain_f1"] - MAX_F1_FALL
            and all(
                r[f"neg_{t}_rate"] - base[f"neg_{t}_rate"] <= MAX_SAFE_REWRITE_RISE
                for t in ("spaced35", "symbols35")
            )
        )

    for r in rows:
        r["worst_rewrite_detection"] = min(r["pos_spaced35_rate"], r["pos_symbols35_rate"])
        r["admissible"] = admissible(r)
        print(
            f"tau {r['tau']:.2f}  plain det {r['plain_detection']:.3f} F1 {r['plain_f1']:.3f} "
            f"safe {r['plain_safe_fpr']:.3f} docs {r['clean_doc_rate']:.3f}  spaced {r['pos_spaced35_rate']:.3f} "
            f"symbols {r['pos_symbols35_rate']:.3f}  safe rewritten {r['neg_spaced35_rate']:.3f}/"
            f"{r['neg_symbols35_rate']:.3f}  {'ok' if r['admissible'] else '-'}"
        )
    ok = [r for r in rows if r["admissible"]]
    chosen = max(
        ok,
        key=lambda r: (
            r["worst_rewrite_detection"],
            max(r["pos_spaced35_rate"], r["pos_symbols35_rate"]),
            -r["tau"],
        ),
    )
    print(f"chosen encoder_min_readable: {chosen['tau']}")
    counts = {name: len(texts) for name, texts in sets.items()}
    write_results(
        args.out.stem,
        {"counts": counts, "grid": rows, "chosen": chosen["tau"]},
        method="dev split only (in-sample for the choice of tau); classifier alone, runtime mode; "
        "rewrites written for this tuning (rate 0.35), not the evaluation's; rule fixed before the first run",
        machine=machine_info(),
        folder=args.out.parent,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
