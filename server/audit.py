"""JSONL audit log of every intervention: what fired, why, where -- never the raw text.

The text is recorded as a keyed digest (HMAC-SHA256 with a per-deployment secret) and a length, spans
as offsets and a type; nothing that would write the PII the policy just removed. Why keyed: a plain
sha256 of a short text plus its span offsets lets anyone who reads the log recover e.g. a phone number
by enumerating candidates; without the key the digest cannot be checked against a guess. One JSON
object per line, appended under a lock with a single ``write`` so concurrent requests never interleave.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import threading
import time
from pathlib import Path
from typing import Any

from filters.engine import Verdict

__all__ = ["KEY_ENV", "AuditKeyError", "AuditLog", "intervention_records", "load_or_create_key"]

KEY_ENV = "WINNOW_AUDIT_KEY"  # the secret itself, when set (takes precedence over the key file)
_MIN_KEY_BYTES = 16
_MAX_KEY_BYTES = 4096


class AuditKeyError(ValueError):
    """The audit key is unusable (too short, or its file is readable by others): a deployment mistake."""


def load_or_create_key(path: str | Path) -> bytes:
    """The HMAC key: ``$WINNOW_AUDIT_KEY``, else the key file, created (0600, 32 random bytes) if absent."""
    env = os.environ.get(KEY_ENV)
    if env is not None:
        return _checked(env.encode("utf-8"), f"${KEY_ENV}")
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")
    return _read_key_file(path)


def _read_key_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuditKeyError(f"audit key file {path} is accessible by group/others; run: chmod 600 {path}")
    with open(path, "rb") as f:
        return _checked(f.read(_MAX_KEY_BYTES + 1).strip(), str(path))


def _checked(key: bytes, where: str) -> bytes:
    if not _MIN_KEY_BYTES <= len(key) <= _MAX_KEY_BYTES:
        raise AuditKeyError(f"audit key in {where} must be {_MIN_KEY_BYTES} to {_MAX_KEY_BYTES} bytes")
    return key


_REASON_RE = re.compile(
    r"^(?P<cat>[a-z_]+): (?P<ref>[a-z]+(?::[a-z_]+)?)=(?P<score>[0-9.]+) >= (?P<thr>[0-9.]+)$"
)


def intervention_records(v: Verdict, text_hmac: str, text_chars: int) -> list[dict[str, Any]]:
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
            for (c, s, e), lab in zip(v.spans, v.labels or [""] * len(v.spans), strict=True)
            if c == cat
        ]
        out.append(
            {
                "category": cat,
                "score": v.categories.get(cat, 1.0 if cat == "detector_error" else None),
                "threshold": min((t for _, _, t in refs), default=None),
                "refs": [{"ref": ref, "score": s, "threshold": t} for ref, s, t in refs],
                "spans": spans,
                "text_hmac_sha256": text_hmac,
                "text_chars": text_chars,
            }
        )
    return out


class AuditLog:
    """Append-only JSONL file (or a no-op when no path is configured)."""

    def __init__(
        self,
        path: str | Path | None,
        policy_sha256: str,
        model_sha256: str,
        key_file: str | Path | None = None,
    ):
        self.path = Path(path) if path else None
        self.policy_sha256 = policy_sha256
        self.model_sha256 = model_sha256
        self._lock = threading.Lock()
        self._key = b""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._key = load_or_create_key(key_file or self.path.with_name(self.path.name + ".key"))

    def text_hmac(self, text: str) -> str:
        """HMAC-SHA256 of the text under the deployment's key ("" when nothing is logged)."""
        if self.path is None:
            return ""
        data = text.encode("utf-8", errors="surrogatepass")
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

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
