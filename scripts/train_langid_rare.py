"""Train the rare-language third opinion (filters/models/langid_rare.npz) on the tune half only.

    .venv/bin/python scripts/train_langid_rare.py [--data ../shared/data] [--out filters/models/langid_rare.npz]

Data: the shared data folder's langid/ (--data; default ../shared/data, or $WINNOW_SHARED_DATA as for the
benchmarks), lingua's test sentences and two-word snippets, split as in
benchmarks/eval_langid.py: within each language the even rows are "tune", the odd rows "test". This
script reads only the tune rows; the test rows are what benchmarks/eval_langid.py reports.

Decided before looking at any figure (2026-12-04, issue 15):
- targets: mi, tn, ts (the languages lid.176 and py3langid cannot name);
- triggers: every label the two-model detector gives, on its unsure path (lid.176 < 0.9), to at least two
  tune texts of a target;
- classes: the targets, every other lingua language with at least two unsure tune texts labelled with a
  trigger, and one pooled "other" for the rest;
- α (smoothing) and τ (the posterior needed to relabel) by 2-fold cross-validation inside the tune rows
  (folds: a language's tune rows alternately), maximising the mean of sentence and snippet macro
  accuracy over all 75 languages; ties go to the larger τ, then the smaller α;
- the final counts are over all tune rows.
Writes fixed-timestamp npz bytes, so a rerun gives the same file (its sha256 is pinned in
filters/detectors/langid_rare.py).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
from collections import Counter
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import eval_langid  # noqa: E402
from benchmarks.machine import SHARED_DATA  # noqa: E402
from filters.detectors.langid import LangIdTwoModels, Lid176Detector  # noqa: E402
from filters.detectors.langid_fusion import DEFAULT_UNSURE  # noqa: E402
from filters.detectors.langid_rare import BUCKETS, decide, features, log_probs  # noqa: E402
from scripts.training_kit import out_problem, write_npz  # noqa: E402

TARGETS = ("mi", "tn", "ts")
OTHER = "other"
FILES = ("lingua_sentences_75lang_250each.tsv", "lingua_word_pairs_75lang_100each.tsv")
ALPHAS = (0.01, 0.1, 0.5)
THRESHOLDS = (0.5, 0.9, 0.99, 0.999)


class Text:
    """One tune row with what the two-model detector said about it."""

    def __init__(self, kind: str, gold: str, text: str, fold: int, label: str, unsure: bool) -> None:
        self.kind, self.gold, self.text, self.fold = kind, gold, text, fold
        self.label, self.unsure = label, unsure
        self.x = features(text)


def load_tune(langid: Path, name: str) -> list[tuple[str, str]]:
    """The tune rows of one file of the `langid` folder, split by benchmarks/eval_langid.py's `load` (one
    split for both: that function reads its module's DATA folder, pointed here at `langid`)."""
    with mock.patch.object(eval_langid, "DATA", langid):
        return eval_langid.load(name)["tune"]


def tune_texts(langid: Path) -> list[Text]:
    det, lid = LangIdTwoModels(), Lid176Detector()
    out: list[Text] = []
    for name in FILES:
        rows = load_tune(langid, name)
        texts = [t for _, t in rows]
        fused = det.detect_batch(texts)
        lid_top = [r.scores["lang_score"] for r in lid.detect_batch(texts)]
        seen: Counter[str] = Counter()
        for (gold, text), r, top in zip(rows, fused, lid_top, strict=True):
            out.append(Text(name[:20], gold, text, seen[gold] % 2, r.labels["lang"], top < DEFAULT_UNSURE))
            seen[gold] += 1
    return out


def choose_triggers_and_classes(texts: list[Text]) -> tuple[list[str], list[str]]:
    given = Counter(t.label for t in texts if t.gold in TARGETS and t.unsure)
    triggers = sorted(label for label, n in given.items() if n >= 2)
    hits = Counter(t.gold for t in texts if t.gold not in TARGETS and t.unsure and t.label in triggers)
    neighbours = sorted(g for g, n in hits.items() if n >= 2)
    return triggers, [*TARGETS, *neighbours, OTHER]


def class_counts(texts: list[Text], classes: list[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), BUCKETS), dtype=np.float64)
    for t in texts:
        counts[index.get(t.gold, index[OTHER])] += t.x
    return counts


def final_labels(
    texts: list[Text], lp: np.ndarray, classes: list[str], triggers: set[str], tau: float
) -> list[str]:
    out = []
    for t in texts:
        found = (
            decide(t.x, lp, classes, frozenset(TARGETS), tau) if t.unsure and t.label in triggers else None
        )
        out.append(found[0] if found else t.label)
    return out


def macro(texts: list[Text], labels: list[str]) -> float:
    """Mean over kinds (sentences, snippets) of the macro accuracy over languages."""
    per_kind = []
    for kind in sorted({t.kind for t in texts}):
        hits: dict[str, list[bool]] = {}
        for t, lab in zip(texts, labels, strict=True):
            if t.kind == kind:
                hits.setdefault(t.gold, []).append(lab == t.gold)
        per_kind.append(statistics.fmean(sum(h) / len(h) for h in hits.values()))
    return statistics.fmean(per_kind)


def cross_validate(texts: list[Text], classes: list[str], triggers: set[str]) -> tuple[float, float, dict]:
    scores: dict[tuple[float, float], float] = {}
    for alpha in ALPHAS:
        fold_lp = {}
        for held in (0, 1):
            train = [t for t in texts if t.fold != held]
            fold_lp[held] = log_probs(class_counts(train, classes), alpha)
        for tau in THRESHOLDS:
            per_fold = []
            for held in (0, 1):
                test = [t for t in texts if t.fold == held]
                per_fold.append(macro(test, final_labels(test, fold_lp[held], classes, triggers, tau)))
            scores[(alpha, tau)] = statistics.fmean(per_fold)
    alpha, tau = max(scores, key=lambda k: (round(scores[k], 6), k[1], -k[0]))
    return alpha, tau, {f"alpha={a} tau={t}": round(s, 4) for (a, t), s in sorted(scores.items())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=SHARED_DATA, help="the shared data folder (its langid/ is read)"
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=ROOT / "filters" / "models" / "langid_rare.npz",
        help="the model file to write",
    )
    a = ap.parse_args(argv)
    missing = [a.data / "langid" / name for name in FILES if not (a.data / "langid" / name).is_file()]
    if missing:
        print(
            f"error: {missing[0]} not found: pass --data pointing at the shared data folder", file=sys.stderr
        )
        return 2
    if problem := out_problem(a.out, file=True):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    texts = tune_texts(a.data / "langid")
    triggers, classes = choose_triggers_and_classes(texts)
    base = macro(texts, [t.label for t in texts])
    alpha, tau, grid = cross_validate(texts, classes, set(triggers))
    print(f"triggers ({len(triggers)}): {' '.join(triggers)}")
    print(f"classes ({len(classes)}): {' '.join(classes)}")
    print(f"tune macro (sentences, snippets mean), two models: {base:.4f}")
    for k, v in grid.items():
        print(f"  cv {k}: {v:.4f}")
    print(f"chosen: alpha={alpha} tau={tau}")
    counts = class_counts(texts, classes)
    assert counts.max() < 2**32
    write_npz(
        a.out,
        {
            "classes": np.array(classes),
            "targets": np.array(TARGETS),
            "triggers": np.array(triggers),
            "params": np.array([alpha, tau], dtype=np.float64),
            "counts": counts.astype(np.uint32),
        },
    )
    digest = hashlib.sha256(a.out.read_bytes()).hexdigest()
    print(f"wrote {a.out} ({a.out.stat().st_size:,} bytes), sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
