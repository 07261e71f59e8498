"""``winnow serve`` arguments: the CLI wires ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse

from server.config import ServeConfig

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML serve config (flags override it)")
    parser.add_argument("--checkpoint", help="trainer output / checkpoint directory (bundled-model backend)")
    parser.add_argument(
        "--upstream", dest="upstream_url", help="OpenAI-compatible base URL to proxy, e.g. http://h:8001/v1"
    )
    parser.add_argument("--upstream-model", help="model name sent upstream")
    parser.add_argument("--policy", help="policy YAML (default configs/policy.yaml)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8000)")
    parser.add_argument("--model-name", help="model id reported to clients")
    parser.add_argument("--audit-log", help="JSONL file of every intervention")
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


def run(args: argparse.Namespace) -> int:
    from server.app import serve

    serve(config_from_args(args))
    return 0
