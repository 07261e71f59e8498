"""Checks of a run config that its types cannot make: the filter's policy file loads.

The library-owned sections (`near_dedup`, `tokenize`) are the libraries' own pydantic models, typed
fields of `pipeline.config.RunConfig`, so they are validated once with the rest of the config. The
policy is a file of its own, validated by `filters` when it loads; its errors are prefixed with
`filter.policy`. This module does not import `pipeline.config` (the config imports it): it reads a
config through `SectionsSource`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from pipeline.validation import field_message


class SectionsSource(Protocol):
    """What the checks need of a run config (`pipeline.config.RunConfig` has it)."""

    stages: list[str]

    def policy_path(self) -> str: ...


def _errors(
    section: str, model: type[BaseModel] | None, fn: Callable[[SectionsSource], Any], cfg: SectionsSource
) -> list[str]:
    """`fn(cfg)`'s validation errors as `  section.field: message` lines (with `did you mean`)."""
    try:
        fn(cfg)
    except ValidationError as e:
        return [f"  {field_message(err, model, prefix=section)}" for err in e.errors()]
    except (ValueError, OSError) as e:
        return [f"  {section}: {e}"]
    return []


def validate_sections(cfg: SectionsSource) -> list[str]:
    """Checks beyond the typed sections: the policy file loads (a file of its own, validated by filters)."""
    errors: list[str] = []
    if "filter" in cfg.stages:
        policy = cfg.policy_path()
        if "://" not in policy and not os.path.exists(policy):
            errors.append(f"  filter.policy: file not found: {policy}")
        else:
            errors += _errors("filter.policy", None, lambda c: _load_policy(policy), cfg)
    return errors


def _load_policy(path: str) -> Any:
    from filters import Policy

    return Policy.load(path)
