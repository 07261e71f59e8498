"""`winnow`: the command line.

Each subcommand is a thin layer over a library call; heavy imports happen
inside the handlers so `winnow --help` stays instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from pipeline.config import ConfigError
from winnow.names import clash_message

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _cmd_run(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.executor import init_ray
    from pipeline.ledger import funnel_table
    from pipeline.preflight import preflight_run
    from pipeline.runner import run_pipeline
    from winnow.commands import check_output_path

    cfg = load_config(args.config)
    run_dir = args.run_dir or (cfg.resolve(cfg.run_dir) if cfg.run_dir else os.path.join("runs", cfg.name))
    check_output_path(run_dir, "--run-dir" if args.run_dir else "the run directory", directory=True)
    _print_warnings(preflight_run(cfg, run_dir, restart=args.restart))
    init_ray(args.address or cfg.ray.address, cfg.ray.num_cpus)

    def on_stage(stats) -> None:
        removed = sum(stats.removed.values())
        print(
            f"  {stats.name:<12} in {stats.input:>8,}  kept {stats.kept:>8,}  removed {removed:>7,}  "
            f"quarantined {stats.quarantined:>5,}  {stats.seconds:7.1f}s",
            flush=True,
        )

    print(f"winnow: running {args.config} into {run_dir}", flush=True)
    result = run_pipeline(cfg, run_dir, restart=args.restart, on_stage=on_stage)
    print()
    print(funnel_table(result.ledger))
    print()
    print(f"run directory:  {run_dir}")
    print(f"  kept:         {run_dir}/{cfg.stages[-1] if cfg.stages[-1] != 'tokenize' else cfg.stages[-2]}/")
    print(f"  removed:      {run_dir}/rejected/")
    print(f"  quarantined:  {run_dir}/quarantine/")
    print(f"  ledger:       {run_dir}/stats.json")
    if "tokenize" in cfg.stages:
        print(f"  tokens:       {run_dir}/tokens/")
    if not args.no_report:
        from report.page import write_report

        print(f"  report:       {write_report(run_dir)}")
    return EXIT_OK if result.ledger["reconciles"] else EXIT_FAIL


def _print_warnings(warnings: list[str]) -> None:
    for line in warnings:
        print(line, file=sys.stderr, flush=True)


def _cmd_validate(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.preflight import check_sources
    from pipeline.stages.ingest import expand_sources

    cfg = load_config(args.config)
    if not args.sources:
        print(
            f"{args.config}: valid (sources not checked; add --sources to check them); "
            f"stages: {' -> '.join(cfg.stages)}"
        )
        return EXIT_OK
    _print_warnings(check_sources(cfg, remote=True))
    print(f"{args.config}: valid; stages: {' -> '.join(cfg.stages)}")
    for src in expand_sources(cfg):
        print(f"  {src.uri}")
    return EXIT_OK


def _cmd_stats(args: argparse.Namespace) -> int:
    from pipeline import layout, storage
    from pipeline.ledger import funnel_table

    path = layout.stats_path(args.run_dir)
    if not storage.exists(path):
        print(
            f"error: no stats.json in {args.run_dir} — give a run directory that `winnow run` wrote "
            "(runs/default after `make pipeline`)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    ledger = storage.read_json(path)
    if args.json:
        print(json.dumps(ledger, indent=2))
    else:
        print(funnel_table(ledger))
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from report.data import ReportInputError
    from report.page import write_report
    from winnow.commands import check_output_path

    check_output_path(args.output, "-o", directory=False)
    if args.output and os.path.isdir(args.output):
        raise ConfigError(
            f"-o {args.output} is a directory — give the report's file name, "
            f"e.g. -o {os.path.join(args.output, 'report.html')}"
        )
    try:
        path = write_report(args.run_dir, args.output, train_log=args.train_log, policy=args.policy)
    except (FileNotFoundError, ReportInputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"report: {path}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="winnow",
        description="Curate LLM training data: download, deduplicate, filter, tokenize, train; guard model output.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run a pipeline config into a run directory (resumes an unfinished run)")
    p.add_argument("config", help="run config (YAML)")
    p.add_argument(
        "--run-dir", help="output directory or fsspec URI (default: run_dir from the config, or runs/NAME)"
    )
    p.add_argument(
        "--address", help="join an existing Ray cluster (default: RAY_ADDRESS, else a local instance)"
    )
    p.add_argument("--restart", action="store_true", help="discard an earlier run in the run directory first")
    p.add_argument("--no-report", action="store_true", help="do not write report.html at the end")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("validate", help="check a run config and say what is wrong, field by field")
    p.add_argument("config")
    p.add_argument("--sources", action="store_true", help="also list the files the sources expand to")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "stats", help="print the funnel of a run: per stage in, kept, removed by reason, quarantined"
    )
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="print stats.json as is")
    p.set_defaults(func=_cmd_stats)

    p = sub.add_parser(
        "report", help="write a self-contained report.html: funnel, scores, languages, clusters"
    )
    p.add_argument("run_dir")
    p.add_argument("-o", "--output", help="output file (default: RUN_DIR/report.html)")
    p.add_argument("--train-log", help="trainer log (JSONL) to plot; default: RUN_DIR/train/**/*.jsonl")
    p.add_argument("--policy", help="policy file for the thresholds (default: the run's)")
    p.set_defaults(func=_cmd_report)

    from winnow import commands

    commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    clash = clash_message()
    if clash:
        print(f"error: {clash}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
