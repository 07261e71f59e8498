"""One JSON Lines line judged the same way by ingest, `winnow dedup`, `winnow tokenize` and `winnow filter
score`. Standard library only.

A line is a document when it is valid UTF-8 and holds one JSON object; otherwise it is a malformed
line, reported by its file and line number and never silently dropped (the callers count it and
say so), e.g. "malformed JSON: Expecting value (column 1)"; callers put the file and line in front.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_NAMED", "BadLine", "parse_object_line", "text_problem", "valid_unicode"]

MAX_REASON_CHARS = 200
MAX_NAMED = 5  # malformed lines a command names (in its stats and on stderr); the rest are counted


@dataclass(frozen=True)
class BadLine:
    """A line of a JSONL file that is not a document: where it is and why."""

    path: str
    line: int  # 1-based
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: line {self.line}: {self.reason}"


def parse_object_line(line: bytes | str) -> dict[str, Any] | str:
    """The JSON object on one line, or a short reason why the line is not one."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as e:
            return f"invalid UTF-8 at byte {e.start}"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return f"malformed JSON: {e.msg} (column {e.colno})"
    except RecursionError:
        return "JSON nested too deeply to parse"
    except ValueError as e:  # e.g. an integer literal longer than Python's digit limit
        what = f"{type(e).__name__}: {e}"  # parsers quote the input, which may be megabytes: cut short
        return (
            f"unparsable JSON: {what if len(what) <= MAX_REASON_CHARS else what[:MAX_REASON_CHARS] + '...'}"
        )
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    return obj


def text_problem(obj: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    """Why a document's text field cannot be used (None when it can): "no 'text' field (found [...])" or
    "field 'text' is int, not a string", the same words in every command. `required=False` lets a
    document without the field, or with null, through (tokenize counts it as an empty document)."""
    if field not in obj:
        return f"no {field!r} field (found {sorted(obj)[:10]})" if required else None
    value = obj[field]
    if isinstance(value, str) or (value is None and not required):
        return None
    return f"field {field!r} is {'null' if value is None else type(value).__name__}, not a string"


def valid_unicode(value: Any) -> Any:
    """`value` with lone surrogates in its strings (valid JSON escapes such as \\ud800, but not
    Unicode) written "?", as ingest stores them: UTF-8, so Arrow and the tokenizer, cannot hold them.
    Strings inside dicts and lists are mended too; anything else is returned as it is."""
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {k: valid_unicode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [valid_unicode(v) for v in value]
    return value
