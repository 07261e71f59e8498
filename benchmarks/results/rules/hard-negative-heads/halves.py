"""Main's (or the variant's) fire rate on each half of the project's hard negatives (clause 3)."""

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, ".")
import numpy as np

from benchmarks.eval_harm import Judge


def half(row_id):
    return (
        "train" if hashlib.sha256(f"hard-negative\x00{row_id}".encode()).digest()[0] % 2 == 0 else "heldout"
    )


rows = [
    json.loads(line)
    for line in Path("data/harm_hard_negatives/hard_negatives.jsonl").read_text().splitlines()
    if line.strip()
]
_, fired = Judge("required", "confirm", None).judge([r["text"] for r in rows])
h = np.array([half(r["id"]) for r in rows])
out = {}
for name in ("train", "heldout"):
    m = h == name
    out[name] = {
        "n": int(m.sum()),
        "fired": int(fired[m].any(axis=1).sum()),
        "rate": round(float(fired[m].any(axis=1).mean()), 4),
    }
kinds = sorted({r["kind"] for r in rows})
out["heldout_per_kind"] = {
    k: int(fired[(h == "heldout") & np.array([r["kind"] == k for r in rows])].any(axis=1).sum())
    for k in kinds
}
print(json.dumps(out))
