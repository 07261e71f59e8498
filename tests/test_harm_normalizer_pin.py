"""The normalized text the shipped harm models were trained on is pinned next to their hashes.

Why: both harm tiers read `filters.normalize`'s view of a text, in training and at run time. The ninth slice
(2026-12-05/06) changed that view (leetspeak read back into words) without retraining, and the shipped files were
no longer what `scripts/train_harm.py` makes; nothing failed until a retrain was tried (2026-12-06). This test
fingerprints the view of a fixed probe (the project's 640 hard negatives, each also rewritten by the evaluation's
five transforms, and the short messages) and keeps it with the sha256 of the model files trained on that view.

When the normalizer or the models change on purpose: retrain both tiers (`nice -n 10 .venv/bin/python
scripts/train_harm.py`), evaluate, then re-record with `WINNOW_WRITE_NORMALIZER_PIN=1` and say so in the commit.
The view also depends on Python's Unicode tables (NFKC, case folding), which change between Python versions: a
failure on another Python than the one that recorded the pin says so too, and the same retrain answers it.
(A stronger design would have `scripts/train_harm.py` write the view's hash into the model manifest, so the pin could
not be re-recorded without a retrain; it needs a retrain to adopt.)"""

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
MODEL_FILES = (
    "harm_fast.json",
    "harm_fast.npz",
    "harm_calibration.json",
    "harm_encoder_heads.npz",
    "harm_encoder.json",
)
# One or more strings per step of the normalizer, so a change to a step the probe's rewrites rarely reach shows too.
FEATURE_STRINGS = (
    "Ｆｕｌｌｗｉｄｔｈ ａｎｄ 𝐦𝐚𝐭𝐡 𝐥𝐞𝐭𝐭𝐞𝐫𝐬, ﬁ ligature",  # NFKC
    "CASE Folding ẞ STRASSE",  # case folding
    "zero\u200bwidth\u200d join\u2060ers and bi\u202edi\u202c con\u00adtrols\ufe0f",  # format characters
    "раypal and Ѕtop mixed Cyrillic, but Россия stays",  # homoglyphs only in mixed-script tokens
    "f u c k, f.u.c.k, f-u-c-k and a b c",  # spaced and dotted letters
    "ki11 the h31l p1an, m4ke 4 b0mb, 14 w0rds, 1337 5p34k, Ca$h, a11y, i7 with 455 W",  # leetspeak
    "fuuuuck sooooo goood, coffee and bookkeeper",  # elongation
    "don'7 can'7 we'll, it5 1t's",  # contractions
)


def probe_texts() -> list[str]:
    """The hard negatives and short messages, plain and under every evaluation rewrite, then one or more strings
    per normalizer step."""
    base = [
        json.loads(line)["text"] for line in HARD_NEGATIVES.read_text(encoding="utf-8").splitlines() if line
    ]
    short = json.loads(SHORT_MESSAGES.read_text(encoding="utf-8"))
    base += [t for key in ("benign", "harmful") for t in short[key]]
    return base + [rewrite(t) for rewrite in TRANSFORMS.values() for t in base] + list(FEATURE_STRINGS)


def _digest(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8") + b"\x00")
    return h.hexdigest()


def current_pin() -> dict:
    """What the pin file holds, computed now: the probe's and its normalized view's sha256, the model files'."""
    texts = probe_texts()
    models = ROOT / "filters" / "models"
    return {
        "about": "sha256 of filters.normalize's view of the probe in tests/test_harm_normalizer_pin.py, and of "
        "the harm model files trained on that view; re-record only after retraining (see the test's docstring)",
        "probe_texts": len(texts),
        "probe_sha256": _digest(texts),
        "normalized_view_sha256": _digest([normalize(t).text for t in texts]),
        "models": {name: hashlib.sha256((models / name).read_bytes()).hexdigest() for name in MODEL_FILES},
    }


def test_harm_models_were_trained_on_the_current_normalized_view() -> None:
    got = current_pin()
    if os.environ.get("WINNOW_WRITE_NORMALIZER_PIN") == "1":
        PIN.write_text(json.dumps(got, indent=1) + "\n", encoding="utf-8")
    pin = json.loads(PIN.read_text(encoding="utf-8"))
    assert (got["probe_texts"], got["probe_sha256"]) == (pin["probe_texts"], pin["probe_sha256"]), (
        "the probe's texts changed (hard negatives, short messages, the evaluation's rewrites or FEATURE_STRINGS), "
        "not the normalizer: re-record the pin with WINNOW_WRITE_NORMALIZER_PIN=1"
    )
    assert got["models"] == pin["models"], (
        "the harm model files differ from the ones pinned with the normalizer's view: if scripts/train_harm.py made "
        "them at this commit, re-record with WINNOW_WRITE_NORMALIZER_PIN=1"
    )
    assert got["normalized_view_sha256"] == pin["normalized_view_sha256"], (
        "filters.normalize gives another view of the probe than the shipped harm models were trained on: retrain "
        "them (scripts/train_harm.py), evaluate, then re-record with WINNOW_WRITE_NORMALIZER_PIN=1"
    )
