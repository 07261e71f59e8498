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
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from kit.validation import field_errors
from tokenization.config import TokenizeConfig


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
        errors += _tokenizer_errors(cfg.tokenize.tokenizer.path, cfg.tokenize.tokenizer.eos_token)
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


TOKENIZER_ACTION = "give a tokenizer.json (or a directory holding one), or leave path out to train one"


def _tokenizer_errors(path: str, eos_token: str) -> list[str]:
    """`tokenize.tokenizer.path` must name a tokenizer the `tokenizers` library loads, with the EOS
    token that joins packed documents: the tokenize stage loads it last, after every other stage."""
    file = _tokenizer_file(path)
    if file is None:
        return [f"  tokenize.tokenizer.path: no tokenizer.json at {path} — {TOKENIZER_ACTION}"]
    try:
        tokenizer = _load_tokenizer(file)
    except Exception as e:  # tokenizers raises a bare Exception for a file it cannot read or parse
        reason = (str(e).splitlines() or [type(e).__name__])[0][:200]
        return [
            f"  tokenize.tokenizer.path: {file} is not a tokenizers JSON file ({reason}) — {TOKENIZER_ACTION}"
        ]
    if tokenizer.token_to_id(eos_token) is None:
        return [
            f"  tokenize.tokenizer.eos_token: {eos_token!r} is not a token of {file} — set eos_token "
            "to its end-of-text token"
        ]
    return []


def _tokenizer_file(path: str) -> Path | None:
    """The file the tokenize stage would load (the path, or its directory's tokenizer.json); None if none.

    The resolution is the stage's own (`resolve_tokenizer_file`), which raises FileNotFoundError or,
    newer, TokenizeInputError for a missing file: both mean "none".
    """
    from tokenization.errors import TokenizeInputError
    from tokenization.tokenizer import resolve_tokenizer_file

    try:
        return resolve_tokenizer_file(path)
    except (FileNotFoundError, TokenizeInputError):
        return None


def _load_tokenizer(file: Path) -> Any:
    """Load as the stage does; a UTF-8 byte-order mark is allowed (editors write one)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(file.read_bytes().decode("utf-8-sig"))
