"""Validation errors as people read them: one message per bad field, named by its dotted path.

The one reading of a pydantic `ValidationError` for every room: the run config (`pipeline.config`
and its sections), the dedup, tokenize and train options (`winnow`), the filter policy
(`filters.policy`) and `winnow serve`'s options (`winnow.serve`). Each caller joins the messages its
own way (a run config lists them one per line, a policy on one line, `winnow serve` shows the
first); what a message says is decided here:

- `dotted.path: message`, list items by index (`ingest.sources.0.format: ...`);
- pydantic's "Value error, " prefix (a validator's `ValueError`) is dropped: the message is the
  validator's own;
- a key the model does not have is `unknown field`, with `; did you mean 'x'?` when `model` is
  given and one of the fields that may stand there is close (difflib);
- a required field that such a suggestion names is not reported missing as well (the typo says it all).

Standard library and pydantic only.
"""

from __future__ import annotations

import collections.abc
import difflib
import types
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

__all__ = ["FieldError", "closest", "did_you_mean", "field_errors", "known_fields"]

VALUE_ERROR_PREFIX = "Value error, "  # pydantic's prefix for a validator's ValueError


@dataclass(frozen=True)
class FieldError:
    """One bad field: its dotted path ("" for the whole input) and what is wrong with it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def field_errors(
    err: ValidationError,
    model: type[BaseModel] | None = None,
    *,
    prefix: str = "",
    top_level: str = "",
) -> list[FieldError]:
    """Every error of `err` as a `FieldError`, in pydantic's order.

    `model` (the model validated) turns on `did you mean` for unknown keys; `prefix` is put before
    every path (a section validated on its own: `filter.policy`); `top_level` names an error about
    the whole input (a model validator's), which otherwise has no path.
    """
    errors = err.errors()
    suggestions = [_suggestion(e, model) for e in errors]
    suggested = {(*e["loc"][:-1], name) for e, name in zip(errors, suggestions, strict=True) if name}
    out = []
    for e, close in zip(errors, suggestions, strict=True):
        if e["type"] == "missing" and tuple(e["loc"]) in suggested:
            continue
        path = ".".join(str(p) for p in (*([prefix] if prefix else []), *e["loc"])) or top_level
        if e["type"] == "extra_forbidden":
            message = "unknown field" + (f"; did you mean {close!r}?" if close else "")
        else:
            message = str(e["msg"]).removeprefix(VALUE_ERROR_PREFIX)
        out.append(FieldError(path, message))
    return out


def _suggestion(error: Any, model: type[BaseModel] | None) -> str | None:
    """The known field a mistyped key most likely meant, or None."""
    if error["type"] != "extra_forbidden" or model is None or not error["loc"]:
        return None
    return closest(str(error["loc"][-1]), known_fields(model, error["loc"][:-1]))


def closest(word: str, known: collections.abc.Iterable[str]) -> str | None:
    """The known name closest to `word` (difflib), or None when none is close."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, known: collections.abc.Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest known name, else ''."""
    close = closest(word, known)
    return f"; did you mean {close!r}?" if close else ""


def known_fields(model: type[BaseModel], path: collections.abc.Sequence[Any]) -> list[str]:
    """The field names a user may write at `path` (a pydantic error location) inside `model`.

    The path goes through fields of models, list items (an index) and mapping values (a key), also
    inside `X | None` and `Annotated[X, ...]`; [] where it leads to no model.
    """
    annotation: Any = model
    for part in path:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    fields: dict[str, None] = {}  # the fields of every model the annotation may hold, in order
    for option in _options(annotation):
        if _is_model(option):
            fields.update((name, None) for name, f in option.model_fields.items() if f.exclude is not True)
    return list(fields)


def _step(annotation: Any, part: Any) -> Any:
    """The annotation found at one location part inside `annotation`, or None."""
    for option in _options(annotation):
        origin = get_origin(option)
        args = get_args(option)
        if _is_model(option):
            if isinstance(part, str) and part in option.model_fields:
                return option.model_fields[part].annotation
        elif origin in (list, tuple, set, frozenset, collections.abc.Sequence) and isinstance(part, int):
            if args:
                return args[0]
        elif origin in (dict, collections.abc.Mapping) and len(args) == 2:
            return args[1]
    # a union of models: pydantic names the member it tried by its class
    return next((o for o in _options(annotation) if _is_model(o) and o.__name__ == part), None)


def _options(annotation: Any) -> list[Any]:
    """The types an annotation may hold: `X | Y` and `Annotated[X, ...]` opened up."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _options(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _options(arg)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
