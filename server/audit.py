"""JSONL audit log of every intervention: what fired, why, where -- never the raw text.

The text is recorded as a sha256 and a length, spans as offsets and a type; nothing that would
write the PII the policy just removed. One JSON object per line, appended under a lock with a single
``write`` so concurrent requests never interleave lines.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

from filters.engine import Verdict

__all__ = ["AuditLog", "intervention_records"]

_REASON_RE = re.compile(
    r"^(?P<cat>[a-z_]+): (?P<ref>[a-z]+(?::[a-z_]+)?)=(?P<score>[0-9.]+) >= (?P<thr>[0-9.]+)$"
)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def intervention_records(v: Verdict, text: str) -> list[dict[str, Any]]:
    """One record per category that fired with an action other than allow (detector errors included)."""
    hits: dict[str, list[tuple[str, float, float]]] = {}
    for r in v.reasons:
        m = _REASON_RE.match(r)
        if m:
            hits.setdefault(m["cat"], []).append((m["ref"], float(m["score"]), float(m["thr"])))
    out = []
    for cat in v.fired:
        refs = hits.get(cat, [])
        spans = [
            [s, e, lab]
            for (c, s, e), lab in zip(v.spans, v.labels or [""] * len(v.spans), strict=False)
            if c == cat
        ]
        out.append(
            {
                "category": cat,
                "score": v.categories.get(cat, 1.0 if cat == "detector_error" else None),
                "threshold": min((t for _, _, t in refs), default=None),
                "refs": [{"ref": ref, "score": s, "threshold": t} for ref, s, t in refs],
                "spans": spans,
                "text_sha256": text_sha256(text),
                "text_chars": len(text),
            }
        )
    return out


class AuditLog:
    """Append-only JSONL file (or a no-op when no path is configured)."""

    def __init__(self, path: str | Path | None, policy_sha256: str, model_sha256: str):
        self.path = Path(path) if path else None
        self.policy_sha256 = policy_sha256
        self.model_sha256 = model_sha256
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(
        self, request_id: str, stage: str, action: str, records: list[dict[str, Any]], **extra: Any
    ) -> None:
        if self.path is None or not records:
            return
        now = time.time()
        lines = []
        for rec in records:
            row = {
                "ts": round(now, 3),
                "request_id": request_id,
                "stage": stage,
                "action": action,
                "policy_sha256": self.policy_sha256,
                "model_sha256": self.model_sha256,
                **rec,
                **extra,
            }
            lines.append(json.dumps(row, ensure_ascii=True, sort_keys=True) + "\n")
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(lines))
