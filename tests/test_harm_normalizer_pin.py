"""The normalized text the shipped harm models were trained on is pinned next to their hashes.

Why: both harm tiers read `filters.normalize`'s view of a text, in training and at run time. The ninth slice
(2026-12-05/06) changed that view (leetspeak read back into words) without retraining, and the shipped files were
no longer what `scripts/train_harm.py` makes; nothing failed until a retrain was tried (2026-12-06). This test
fingerprints the view of a fixed probe (the project's 640 hard negatives, each also rewritten by the evaluation's
five transforms, and the short messages) and keeps it with the sha256 of the model files trained on that view.

When the normalizer or the models change on purpose: retrain both tiers (`nice -n 10 .venv/bin/python
scripts/train_harm.py`), evaluate, then re-record with `WINNOW_WRITE_NORMALIZER_PIN=1` and say so in the commit."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from benchmarks.eval_harm import TRANSFORMS
from filters.normalize import normalize

ROOT = Path(__file__).resolve().parents[1]
PIN = Path(__file__).parent / "fixtures" / "harm" / "normalizer_pin.json"
HARD_NEGATIVES = ROOT / "data" / "harm_hard_negatives" / "hard_negatives.jsonl"
SHORT_MESSAGES = Path(__file__).parent / "fixtures" / "harm" / "short_messages.json"
MODEL_FILES = ("harm_fast.npz", "harm_calibration.json", "harm_encoder_heads.npz", "harm_encoder.json")


def probe_texts() -> list[str]:
    """The hard negatives, plain and under every evaluation rewrite, then the short messages."""
    base = [
        json.loads(line)["text"] for line in HARD_NEGATIVES.read_text(encoding="utf-8").splitlines() if line
    ]
    short = json.loads(SHORT_MESSAGES.read_text(encoding="utf-8"))
    base += [t for key in ("benign", "harmful") for t in short[key]]
    return base + [rewrite(t) for rewrite in TRANSFORMS.values() for t in base]


def current_pin() -> dict:
    texts = probe_texts()
    views = hashlib.sha256()
    for t in texts:
        views.update(normalize(t).text.encode("utf-8", "surrogatepass") + b"\x00")
    models = ROOT / "filters" / "models"
    return {
        "about": "sha256 of filters.normalize's view of the probe in tests/test_harm_normalizer_pin.py, and of "
        "the harm model files trained on that view; re-record only after retraining (see the test's docstring)",
        "probe_texts": len(texts),
        "normalized_view_sha256": views.hexdigest(),
        "models": {name: hashlib.sha256((models / name).read_bytes()).hexdigest() for name in MODEL_FILES},
    }


def test_harm_models_were_trained_on_the_current_normalized_view() -> None:
    got = current_pin()
    if os.environ.get("WINNOW_WRITE_NORMALIZER_PIN") == "1":
        PIN.write_text(json.dumps(got, indent=1) + "\n", encoding="utf-8")
    pin = json.loads(PIN.read_text(encoding="utf-8"))
    assert got["probe_texts"] == pin["probe_texts"], (
        "the probe changed: re-record the pin (see the docstring)"
    )
    assert got["models"] == pin["models"], (
        "the harm model files differ from the ones pinned with the normalizer's view: if scripts/train_harm.py made "
        "them at this commit, re-record with WINNOW_WRITE_NORMALIZER_PIN=1"
    )
    assert got["normalized_view_sha256"] == pin["normalized_view_sha256"], (
        "filters.normalize gives another view of the probe than the shipped harm models were trained on: retrain "
        "them (scripts/train_harm.py), evaluate, then re-record with WINNOW_WRITE_NORMALIZER_PIN=1"
    )
