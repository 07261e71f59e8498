"""``winnow filter score``: score a JSONL file line by line with a policy.

One output line per input line, in order: ``id``, ``action``, ``categories``, ``lang``, ``spans``,
``text`` only when redacted. A line that is not a JSON object with a string ``text`` becomes
``{"line": n, "id": ..., "action": "error", "error": "..."}``: never a crash, never a skipped line.
The output is written to a temporary file and renamed into place when complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from filters.engine import Filter, Verdict
from filters.policy import Policy

__all__ = ["score_jsonl"]


def _parse(line: str) -> tuple[Any, str, str | None] | str:
    """(id, text, url) or an error message."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as e:
        return f"invalid JSON: {e}"
    if not isinstance(obj, dict):
        return "a line must be a JSON object"
    text = obj.get("text")
    if not isinstance(text, str):
        return "missing or non-string 'text'"
    url = obj.get("url") if isinstance(obj.get("url"), str) else None
    return obj.get("id"), text, url


def _record(doc_id: Any, v: Verdict) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": doc_id,
        "action": v.action,
        "categories": v.categories,
        "lang": v.lang,
        "spans": [list(s) for s in v.spans],
    }
    if v.action == "redact":
        rec["text"] = v.text
    if v.reason:
        rec["reason"] = v.reason
    return rec


def score_jsonl(
    policy_path: str | Path,
    in_path: str | Path,
    out_path: str | Path,
    mode: str = "pretrain",
    batch_size: int = 256,
) -> dict[str, int]:
    """Score every line of ``in_path`` into ``out_path``; returns counts per action (and "error")."""
    filt = Filter(Policy.load(policy_path), mode=mode)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    try:
        with (
            os.fdopen(fd, "w", encoding="utf-8") as out,
            open(in_path, encoding="utf-8", errors="replace") as inp,
        ):
            pending: list[tuple[int, Any, str | None]] = []  # (line no, id, error) in order
            batch: list[tuple[Any, str, str | None]] = []

            def flush() -> None:
                verdicts = iter(filt.check_batch([b[1] for b in batch], [b[2] for b in batch]))
                for line_no, doc_id, err in pending:
                    if err is not None:
                        rec = {"line": line_no, "id": doc_id, "action": "error", "error": err}
                    else:
                        rec = _record(doc_id, next(verdicts))
                    counts[rec["action"]] += 1
                    out.write(json.dumps(rec, ensure_ascii=True) + "\n")
                pending.clear()
                batch.clear()

            for line_no, line in enumerate(inp, start=1):
                parsed = _parse(line)
                if isinstance(parsed, str):
                    pending.append((line_no, None, parsed))
                else:
                    pending.append((line_no, parsed[0], None))
                    batch.append(parsed)
                if len(batch) >= batch_size:
                    flush()
            flush()
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dict(counts)
