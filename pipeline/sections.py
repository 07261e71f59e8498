"""Config sections owned by the libraries (dedup, tokenization, filters).

The pipeline config embeds them as plain mappings and validates them here with
the libraries' own models, prefixing each error with the section name. This module
does not import `pipeline.config` (the config imports it to validate itself): it
reads a config through `SectionsSource`, the few attributes it needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from pipeline.validation import field_message


class SectionsSource(Protocol):
    """What the sections need of a run config (`pipeline.config.RunConfig` has it)."""

    stages: list[str]
    near_dedup: dict[str, Any]
    tokenize: dict[str, Any]

    def resolve(self, path: str) -> str: ...

    def policy_path(self) -> str: ...


def near_dedup_config(cfg: SectionsSource) -> Any:
    from dedup import DedupConfig

    return DedupConfig.model_validate(cfg.near_dedup)


def tokenize_config(cfg: SectionsSource) -> Any:
    from tokenization import TokenizeConfig

    raw = dict(cfg.tokenize)
    tok = raw.get("tokenizer")
    if isinstance(tok, dict) and tok.get("path"):
        raw["tokenizer"] = {**tok, "path": cfg.resolve(tok["path"])}
    return TokenizeConfig.model_validate(raw)


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
    errors: list[str] = []
    if "near_dedup" in cfg.stages:
        from dedup import DedupConfig

        errors += _errors("near_dedup", DedupConfig, near_dedup_config, cfg)
    if "tokenize" in cfg.stages:
        from tokenization import TokenizeConfig

        errors += _errors("tokenize", TokenizeConfig, tokenize_config, cfg)
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
