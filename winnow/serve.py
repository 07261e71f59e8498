"""``winnow serve``: its arguments, the config they make, usage errors and the serve loop's start.

The command line wires ``add_arguments(parser)`` and ``run(args) -> int``; the server itself
(``server.config.ServeConfig``, ``server.app.create_app``, ``server.app.serve``) is the library in
``server/``. Moved from ``server/cli.py`` (issue 16); every message and exit status is unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from server.config import ServeConfig

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML serve config (flags override it)")
    parser.add_argument("--checkpoint", help="trainer output / checkpoint directory (bundled-model backend)")
    parser.add_argument(
        "--upstream", dest="upstream_url", help="OpenAI-compatible base URL to proxy, e.g. http://h:8001/v1"
    )
    parser.add_argument("--upstream-model", help="model name sent upstream")
    parser.add_argument("--policy", help="policy YAML (default: the shipped policy, configs/policy.yaml)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8000)")
    parser.add_argument("--model-name", help="model id reported to clients")
    parser.add_argument("--audit-log", help="JSONL file of every intervention")
    parser.add_argument(
        "--audit-key-file",
        help="HMAC key of the audit log's text digests (default AUDIT_LOG.key, created 0600; "
        "$WINNOW_AUDIT_KEY overrides)",
    )
    parser.add_argument(
        "--api-key", action="append", dest="api_keys", help="accepted Bearer key (repeatable)"
    )
    parser.add_argument("--no-filter", action="store_true", help="serve unfiltered (benchmark baseline only)")
    parser.add_argument("--no-prompt-checks", action="store_true", help="do not check prompts")
    parser.add_argument("--fail-open", action="store_true", help="let answers pass when a detector errors")
    parser.add_argument("--device", help="torch device for the checkpoint backend")


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    overrides = {
        k: getattr(args, k, None)
        for k in (
            "checkpoint",
            "upstream_url",
            "upstream_model",
            "policy",
            "host",
            "port",
            "model_name",
            "audit_log",
            "audit_key_file",
            "api_keys",
            "device",
        )
    }
    if getattr(args, "no_filter", False):
        overrides["filter_enabled"] = False
    if getattr(args, "no_prompt_checks", False):
        overrides["prompt_checks"] = False
    if getattr(args, "fail_open", False):
        overrides["fail_closed"] = False
    if overrides.get("upstream_url") and "backend" not in overrides:
        overrides["backend"] = "upstream"
    if getattr(args, "config", None):
        return ServeConfig.from_yaml(args.config, **overrides)
    return ServeConfig.model_validate({k: v for k, v in overrides.items() if v is not None})


class _UsageError(Exception):
    """A setup mistake: printed as one ``error:`` line, exit status 2."""


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; a setup mistake (config, paths, audit key) is one ``error:`` line, exit 2."""
    from server.app import serve

    try:
        cfg = _config(args)
        app = _app(cfg)
    except _UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    serve(cfg, app)
    return 0


def _config(args: argparse.Namespace) -> ServeConfig:
    from pydantic import ValidationError

    from kit.validation import field_errors

    try:
        cfg = config_from_args(args)
    except ValidationError as e:
        first = field_errors(e, ServeConfig, top_level="serve config")[0]
        where = first.path
        if where == "upstream_url" and getattr(args, "upstream_url", None):
            where = "--upstream"
        raise _UsageError(f"{where}: {first.message} (see `winnow serve --help`)") from None
    except (
        OSError,
        ValueError,
        yaml.YAMLError,
    ) as e:  # the --config file: missing, unreadable, not a mapping
        raise _UsageError(
            f"serve config {args.config}: {_reason(e)}; pass an existing YAML mapping"
        ) from None
    if not Path(cfg.policy).is_file():
        raise _UsageError(f"policy file {cfg.policy} not found; pass --policy PATH")
    return cfg


def _app(cfg: ServeConfig) -> Any:
    """The app, with what the user passed (checkpoint, policy, audit paths) checked on the way."""
    from server.app import create_app
    from server.audit import AuditKeyError
    from server.backends import BackendSetupError

    try:
        return create_app(cfg)
    except (BackendSetupError, AuditKeyError) as e:
        raise _UsageError(str(e)) from None
    except OSError as e:
        raise _UsageError(
            f"{e.filename or 'file'}: {_reason(e)}; check the path and its permissions"
        ) from None
    except (ValueError, yaml.YAMLError) as e:
        reason = _reason(e)
        if not reason.startswith("policy "):  # a PolicyError names the policy file itself
            reason = f"policy {cfg.policy}: {reason}"
        raise _UsageError(f"{reason}; fix the policy file") from None


def _reason(e: Exception) -> str:
    """The first line of an error, bounded (never a traceback)."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return (str(e).splitlines() or [type(e).__name__])[0][:200]
