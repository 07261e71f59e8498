"""What the training scripts share: up-front checks of an output path and progress lines, the dev-set
metrics and thresholds they choose with, and model files written so that retraining gives the same
bytes.

Used by `scripts/train_harm.py`, `scripts/train_harm_encoder.py`, `scripts/train_toxicity.py` and
`scripts/train_langid_rare.py`.
"""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from kit.files import atomic_write, write_text_atomic

__all__ = [
    "average_precision",
    "best_f1_threshold",
    "out_problem",
    "platt",
    "progress",
    "write_json",
    "write_npz",
]


def out_problem(out: Path, flag: str = "--out", *, file: bool = False) -> str | None:
    """Why `out` cannot take the outputs, checked before any work (None if it can). A folder `out`
    (`file=False`) must be a folder or creatable; a file `out` must not be a folder and its folder
    must exist or be creatable. Nothing is created here."""
    folder = out.parent if file else out
    if file and out.is_dir():
        return f"{flag} {out} is a folder: pass a file name, e.g. {out / 'model.npz'}"
    if not file and out.exists() and not out.is_dir():
        return f"{flag} {out} is a file: pass a folder (it is created if missing)"
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return (
            f"{flag} {out}: {existing} is a file, so folder {folder} cannot be created: pass another {flag}"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{flag} {out}: folder {existing} is not writable: pass another {flag}"
    return None


def progress(message: str) -> None:
    """One progress line on stderr (stdout carries the results)."""
    print(message, file=sys.stderr, flush=True)


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def platt(margins: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling p = sigmoid(a * margin + b), fitted on dev."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
    clf.fit(margins.reshape(-1, 1), y)
    return float(clf.coef_[0, 0]), float(clf.intercept_[0])


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximizing F1 on dev; ties go to the higher threshold."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(1 - ys)
    f1 = 2 * tp / np.maximum(tp + fp + ys.sum(), 1)
    last = np.r_[ps[1:] != ps[:-1], True]  # only cut between distinct scores
    f1 = np.where(last, f1, -1)
    i = int(np.argmax(f1))
    return float(ps[i]), float(f1[i])


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz with fixed timestamps and order, so retraining gives identical bytes; written atomically."""
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def write_json(path: Path, obj: object) -> None:
    """A model manifest, written atomically (a killed training leaves the old file or the new one)."""
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")
