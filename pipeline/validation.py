"""Config errors as people read them: one line per bad field, named by its dotted path.

Shared by the run config (`pipeline.config`) and the library-owned sections it embeds
(`pipeline.sections`), so neither imports the other for it.
"""

from __future__ import annotations

import difflib
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError


def format_validation_error(err: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    """Every error on its own line, named by its dotted field; an unknown field gets a suggestion, and
    a required field it suggests is not reported missing as well (the typo says it all)."""
    errors = err.errors()
    suggested = {(*e["loc"][:-1], name) for e in errors if (name := _suggestion(e, model))}
    lines = [f"invalid config {source}:"]
    lines += [
        f"  {field_message(e, model)}"
        for e in errors
        if not (e["type"] == "missing" and tuple(e["loc"]) in suggested)
    ]
    return "\n".join(lines)


def _suggestion(error: Any, model: type[BaseModel] | None) -> str | None:
    """The known field a mistyped key most likely meant, or None."""
    if error["type"] != "extra_forbidden" or model is None:
        return None
    return closest(str(error["loc"][-1]), known_fields(model, error["loc"][:-1]))


def field_message(error: Any, model: type[BaseModel] | None, prefix: str = "") -> str:
    """`dotted.field: message` for one pydantic error; `did you mean` for a mistyped key of `model`."""
    loc = ".".join(str(p) for p in (*([prefix] if prefix else []), *error["loc"])) or "(top level)"
    if error["type"] != "extra_forbidden":
        return f"{loc}: {error['msg']}"
    close = _suggestion(error, model)
    return f"{loc}: unknown field" + (f"; did you mean {close!r}?" if close else "")


def closest(word: str, known: Any) -> str | None:
    """The known name closest to `word` (difflib), or None when none is close."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, known: Any) -> str:
    """`; did you mean 'x'?` for the closest known name, else ''."""
    close = closest(word, known)
    return f"; did you mean {close!r}?" if close else ""


def known_fields(model: type[BaseModel], path: Any) -> list[str]:
    """The field names a user may write at `path` (a pydantic error location) inside `model`."""
    current: Any = model
    for part in path:
        current = _model_of(current)
        if isinstance(part, int):
            continue  # a list index: _model_of already stepped into the item type
        if current is None or part not in current.model_fields:
            return []
        current = current.model_fields[part].annotation
    current = _model_of(current)
    if current is None:
        return []
    return [name for name, f in current.model_fields.items() if f.exclude is not True]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as `X`, `X | None` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, types.UnionType):
        for arg in get_args(annotation):
            if (found := _model_of(arg)) is not None:
                return found
    return None
