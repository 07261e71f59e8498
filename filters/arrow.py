"""Annotate an Arrow table of documents with the policy's verdicts (the pipeline's filter stage).

Adds ``lang`` (string), ``lang_score`` (float32), ``score_<category>`` (float32, one per active
category), ``quality`` (float32, from the quality detector; dedup's survivor rule reads it; null where the
policy does not score quality in the document's language), ``quality_reason`` (string: the first
failing quality check, e.g. ``gopher_quality:gopher_short_doc``, "" when it passed or was not scored),
``action`` (string), ``reason`` (string: the category that decided a drop, "" otherwise) and
``flags`` (list<string>: every category that fired), ``skipped`` (list<string>: the detectors that did
not score a document an earlier stage had already dropped, `filters.engine.DETECTOR_STAGES`), and replaces ``text`` with the redacted text
where the action is ``redact``. The pipeline keeps rows whose action is not ``drop``.
"""

from __future__ import annotations

import pyarrow as pa

from filters.engine import Filter

__all__ = ["annotate"]


def annotate(filter: Filter, table: pa.Table, text_column: str = "text", url_column: str = "url") -> pa.Table:
    """``table`` with the verdict columns added (existing columns of the same name are replaced)."""
    texts = table.column(text_column).to_pylist()
    urls = table.column(url_column).to_pylist() if url_column in table.column_names else None
    verdicts = filter.check_batch(texts, urls)
    cats = list(filter.categories)
    cols: dict[str, pa.Array] = {
        "lang": pa.array([v.lang for v in verdicts], pa.string()),
        "lang_score": pa.array([v.lang_score for v in verdicts], pa.float32()),
    }
    for c in cats:
        cols[f"score_{c}"] = pa.array([v.categories.get(c, 0.0) for v in verdicts], pa.float32())
    cols["quality"] = pa.array([v.quality for v in verdicts], pa.float32())
    cols["quality_reason"] = pa.array([v.quality_reason for v in verdicts], pa.string())
    cols["action"] = pa.array([v.action for v in verdicts], pa.string())
    cols["reason"] = pa.array([v.reason if v.action == "drop" else "" for v in verdicts], pa.string())
    cols["flags"] = pa.array([v.fired for v in verdicts], pa.list_(pa.string()))
    cols["skipped"] = pa.array([v.skipped for v in verdicts], pa.list_(pa.string()))
    out = table
    redacted = [v.text if v.action == "redact" else t for v, t in zip(verdicts, texts, strict=True)]
    if any(v.action == "redact" for v in verdicts):
        idx = out.column_names.index(text_column)
        out = out.set_column(idx, text_column, pa.array(redacted, out.schema.field(text_column).type))
    for name, arr in cols.items():
        if name in out.column_names:
            out = out.set_column(out.column_names.index(name), name, arr)
        else:
            out = out.append_column(name, arr)
    return out
