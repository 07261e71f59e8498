"""Checks of a run config that its types cannot make: the filter's policy file and a configured
tokenizer file load (before the run, not after ingest and dedup have run).

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
from tokenization.config import TokenizeConfig
from tokenization.errors import TokenizeInputError
from tokenization.tokenizer import check_tokenizer_file, special_ids


class SectionsSource(Protocol):
    """What the checks need of a run config (`pipeline.config.RunConfig` has it)."""

    stages: list[str]
    tokenize: TokenizeConfig

    def policy_path(self) -> str: ...


def validate_sections(cfg: SectionsSource) -> list[str]:
    """Checks beyond the typed sections: the policy file loads (a file of its own, validated by filters),
    and so does a tokenizer file the config names."""
    errors: list[str] = []
    if "tokenize" in cfg.stages and cfg.tokenize.tokenizer.path:
        errors += _tokenizer_errors(cfg.tokenize)
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


def _tokenizer_errors(cfg: TokenizeConfig) -> list[str]:
    """The tokenize stage's own checks of its tokenizer, with its messages (`tokenization.tokenizer`),
    run before the run instead of after every other stage: the file loads and has the configured
    special tokens."""
    try:
        tokenizer, _ = check_tokenizer_file(cfg.tokenizer.path)
    except TokenizeInputError as e:
        return [f"  tokenize.tokenizer.path: {e}"]
    try:
        special_ids(tokenizer, cfg)
    except TokenizeInputError as e:
        return [f"  tokenize.tokenizer: {e}"]
    return []
