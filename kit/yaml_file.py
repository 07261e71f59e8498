"""A YAML file that must hold a mapping (a config or options file), read with one-line errors.

`winnow train`'s model config, `winnow serve --config` and `dedup`/`tokenize --config` say what is wrong
with such a file in one line; `yaml_error_line` also serves the run config's own reader
(`pipeline.config.load_config`, which adds its own hints). PyYAML's messages span several lines with
snippets and carets, and an `error:` is one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

__all__ = ["YamlFileError", "read_yaml_mapping", "yaml_error_line"]


class YamlFileError(ValueError):
    """The file cannot be read as a YAML mapping; the message is one line naming the file."""


def yaml_error_line(err: yaml.YAMLError) -> str:
    """A YAML error as one line, `line L, column C: problem (context at line L, column C)`."""
    problem, mark = getattr(err, "problem", None), getattr(err, "problem_mark", None)
    if not problem or mark is None:
        return " ".join(str(err).split())
    text = f"{_where(mark)}: {problem}"
    context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and context_mark is not None:
        text += f" ({context} at {_where(context_mark)})"
    return text


def _where(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def read_yaml_mapping(path: str | os.PathLike, what: str = "config") -> dict[str, Any]:
    """The mapping in the YAML file at `path` ({} for an empty file); `what` names the file in errors
    ("train config", "serve config", ...)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise YamlFileError(f"{what} {path} not found: check the path") from e
    except IsADirectoryError as e:
        raise YamlFileError(f"{what} {path} is a directory: give a YAML file") from e
    except OSError as e:
        raise YamlFileError(f"cannot read {what} {path}: {e.strerror}") from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise YamlFileError(f"{what} {path} is not UTF-8 text (byte {e.start}): give a YAML file") from e
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise YamlFileError(f"{what} {path} is not valid YAML: {yaml_error_line(e)}") from e
    except (ValueError, RecursionError) as e:  # a value PyYAML cannot build (`2021-13-45`), or deep nesting
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise YamlFileError(f"{what} {path} holds a value YAML cannot read: {reason}") from e
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise YamlFileError(
            f"{what} {path} must be a mapping of keys at the top level, not a {type(raw).__name__}"
        )
    return raw
