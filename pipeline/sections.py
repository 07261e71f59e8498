"""Checks of a run config that its types cannot make: the filter's policy file loads.

The library-owned sections (`near_dedup`, `tokenize`) are the libraries' own pydantic models, typed
fields of `pipeline.config.RunConfig`, so they are validated once with the rest of the config. The
policy is a file of its own, validated by `filters` when it loads; its errors are prefixed with
`filter.policy`. This module does not import `pipeline.config` (the config imports it): it reads a
config through `SectionsSource`.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from pydantic import ValidationError

from kit.validation import field_errors


class SectionsSource(Protocol):
    """What the checks need of a run config (`pipeline.config.RunConfig` has it)."""

    stages: list[str]

    def policy_path(self) -> str: ...


def validate_sections(cfg: SectionsSource) -> list[str]:
    """Checks beyond the typed sections: the policy file loads (a file of its own, validated by filters)."""
    errors: list[str] = []
    if "filter" in cfg.stages:
        policy = cfg.policy_path()
        if "://" not in policy and not os.path.exists(policy):
            errors.append(f"  filter.policy: file not found: {policy}")
        else:
            try:
                _load_policy(policy)
            except ValidationError as e:  # one `  filter.policy.<field>: message` line per error
                errors += [f"  {err}" for err in field_errors(e, prefix="filter.policy")]
            except (ValueError, OSError) as e:
                errors.append(f"  filter.policy: {e}")
    return errors


def _load_policy(path: str) -> Any:
    from filters import Policy

    return Policy.load(path)
