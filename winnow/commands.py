"""Subcommands that run one library on its own: filter, dedup, tokenize, train, generate.

Each handler parses arguments, calls the library, prints a short summary and
returns an exit code; the libraries know nothing about the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kit.yaml_file import YamlFileError, read_yaml_mapping


def _as_dict(stats: Any) -> Any:
    for method in ("model_dump", "to_dict"):
        if hasattr(stats, method):
            return getattr(stats, method)()
    return stats


def _load_yaml(path: str | None) -> dict[str, Any]:
    """An options file as a mapping; a missing or malformed one is a ConfigError (one `error:` line)."""
    from pipeline.config import ConfigError

    if not path:
        return {}
    try:
        return read_yaml_mapping(path, "--config")
    except YamlFileError as e:
        raise ConfigError(str(e)) from e


def check_output_path(path: str | None, flag: str, *, directory: bool) -> None:
    """Refuse, before any work, an output that cannot be made because it (a directory output) or a
    folder above it is an existing file: a ConfigError, so one `error:` line and exit 2."""
    from pipeline.config import ConfigError

    if not path or "://" in path:
        return  # remote outputs (fsspec URIs) are checked by their filesystem
    target = Path(path)
    for p in [target, *target.parents] if directory else list(target.parents):
        if p.is_dir():
            return
        if p.exists():
            where = "must be a directory" if p == target else "must be inside a directory"
            raise ConfigError(
                f"{p} is a file, not a directory: {flag} {path} {where} — give another path or move the file"
            )


def check_at_least(flag: str, value: float | None, low: float, meaning: str = "") -> None:
    """Refuse a numeric option below its range: one `error:` line (ConfigError), exit 2."""
    from pipeline.config import ConfigError

    if value is not None and not value >= low:  # NaN is not in range either
        raise ConfigError(f"{flag} must be >= {low}{meaning}, got {value}")


def _cmd_filter_score(args: argparse.Namespace) -> int:
    """`winnow filter score`; a reader of stdout that stops early (`-o - | head -1`) ends it quietly."""
    try:
        status = _filter_score(args)
        sys.stdout.flush()  # here, inside the try, not in the interpreter's flush at exit
    except BrokenPipeError:
        return _stdout_closed()
    return status


def _stdout_closed() -> int:
    """Stop as Unix tools do when their reader goes away: no traceback, no further output.

    As the Python docs' "Note on SIGPIPE" (signal module) says: catch BrokenPipeError rather than
    restore SIG_DFL (which would also kill the process on any broken socket), and point stdout at
    /dev/null so the interpreter's flush at exit does not raise again. Exit 0, not 141: the reader
    asked for no more, which is no failure (`set -o pipefail` scripts piping into `head` go on), and
    141 is what a shell reports for a process the signal killed, which this one was not; the docs'
    example exits 1, Python's status for an uncaught EPIPE, which would read as an error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0


def _say(line: str) -> None:
    """A progress line on stderr; a closed stderr must not end the work it reports on."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


def _lines_progress(what: str) -> Callable[[int], None]:
    """A `progress(lines)` that writes `what: N lines read (R lines/s)` to stderr at most once every
    `progress_every_s()` seconds (WINNOW_PROGRESS_EVERY), counted from the first batch, so a long
    file is never silent and a short one (or the model loading before it) writes nothing."""
    from pipeline.executor import progress_every_s

    every = progress_every_s()
    first: list[float] = []  # the time of the first call, and the last line written

    def report(lines: int) -> None:
        now = time.monotonic()
        if not first:
            first[:] = [now, now, lines]
            return
        start, last, lines_at_start = first
        if now - last >= every:
            first[1] = now
            rate = (lines - lines_at_start) / max(now - start, 1e-9)
            _say(f"{what}: {lines:,} lines read ({rate:,.0f} lines/s)")

    return report


def _steps_progress(what: str) -> Callable[[str], None]:
    """A `progress(message)` that writes `what: message (S s)` to stderr once the command has run for
    `progress_every_s()` seconds (WINNOW_PROGRESS_EVERY): a long run says which step it finished, a short
    one writes nothing."""
    from pipeline.executor import progress_every_s

    every, start = progress_every_s(), time.monotonic()

    def report(message: str) -> None:
        elapsed = time.monotonic() - start
        if elapsed >= every:
            _say(f"{what}: {message} ({elapsed:.0f} s)")

    return report


def _filter_score(args: argparse.Namespace) -> int:
    """Score the file; the summary to stdout (stderr with -o -), one `error:` line for a mistake."""
    from filters.policy import PolicyError
    from filters.score_jsonl import STDIO, ScoreInputError, score_file

    check_output_path(args.output, "-o", directory=False)
    try:
        summary = score_file(
            args.input,
            args.output,
            args.policy,
            mode=args.mode,
            batch_size=args.batch_size,
            # With -o -, stderr carries the JSON summary: nothing else goes there.
            progress=_lines_progress("filter score") if args.output != STDIO else None,
        )
    except (ScoreInputError, PolicyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if summary.errors and not summary.documents:
        where = "stdout" if args.output == STDIO else args.output
        print(
            f"error: no line of {'stdin' if args.input == STDIO else args.input} could be scored "
            f"(first: {summary.first_error}) — give JSONL with one object per line holding a string "
            f"`text` (per-line errors in {where})",
            file=sys.stderr,
        )
        return 2
    # With -o -, stdout carries the records: the summary goes to stderr.
    print(
        json.dumps(summary.to_dict(), sort_keys=True), file=sys.stderr if args.output == STDIO else sys.stdout
    )
    if summary.unscored:
        print(f"warning: {summary.unscored}", file=sys.stderr)
    if summary.note:
        print(f"note: {summary.note}", file=sys.stderr)
    return 0


def _cmd_dedup(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from dedup import DedupConfig, explain, run_dedup
    from dedup.io import DedupInputError, check_inputs
    from pipeline.config import ConfigError, format_validation_error

    raw = _load_yaml(args.config)
    if args.threshold is not None:
        raw.setdefault("minhash", {})["threshold"] = args.threshold
    try:
        cfg = DedupConfig.model_validate(raw)
    except ValidationError as e:
        print(
            f"error: {format_validation_error(e, args.config or 'dedup options', DedupConfig)}",
            file=sys.stderr,
        )
        return 2
    if args.explain:
        print(explain(cfg))
        if not args.input:
            return 0
    if not args.input or not args.output:
        print("error: dedup needs INPUT... and -o OUTPUT (or --explain)", file=sys.stderr)
        return 2
    from kit.files import expand_inputs
    from pipeline.executor import init_ray

    missing = [p for p in args.input if "://" not in p and not os.path.exists(p)]
    if missing:
        print(f"error: dedup input {missing[0]} not found — check the path", file=sys.stderr)
        return 2
    if not expand_inputs(args.input):
        print(
            f"error: dedup found no .jsonl or .parquet file in {' '.join(args.input)} — give files or "
            "directories holding them",
            file=sys.stderr,
        )
        return 2
    check_output_path(args.output, "-o", directory=True)
    _check_apart(args.input, args.output)
    try:
        check_inputs(expand_inputs(args.input))
        if cfg.use_ray:
            init_ray(args.address)
        stats = run_dedup(args.input, args.output, cfg, progress=_steps_progress("dedup"))
    except DedupInputError as e:
        raise ConfigError(f"dedup: {e}") from None
    print(json.dumps(_as_dict(stats), indent=2, default=str))
    if stats.quarantined:
        where = f"written to {os.path.join(args.output, 'quarantine')}/, counted as `quarantined`"
        _warn_malformed(stats.quarantined, stats.quarantine_examples, where)
    return 0


def _check_apart(inputs: list[str], output: str) -> None:
    """Refuse an output directory that is an input, lies inside one, or holds one: dedup would write
    kept/ and rejected/ parts among its own inputs, and the next run would read them as documents."""
    from pipeline.config import ConfigError

    if "://" in output:
        return
    out = Path(os.path.realpath(output))
    for item in inputs:
        if "://" in item:
            continue
        src = Path(os.path.realpath(item))
        if out == src or src in out.parents or out in src.parents:
            where = "is" if out == src else "is inside" if src in out.parents else "holds"
            raise ConfigError(
                f"dedup output {output} {where} input {item} — give an output directory apart from the "
                f"inputs, e.g. -o {src.name.split('.')[0]}-dedup"
            )


def _warn_malformed(count: int, examples: list[str], where: str) -> None:
    """Say on stderr that `count` malformed input lines were left out (never silently), naming the first."""
    print(
        f"warning: {count:,} malformed input line(s) left out ({where}){':' if examples else ''}",
        file=sys.stderr,
    )
    for line in examples:
        print(f"warning:   {line}", file=sys.stderr)
    if count > len(examples) and examples:
        print(f"warning:   ... and {count - len(examples):,} more", file=sys.stderr)


def _tokenize_inputs(items: list[str]) -> list[str]:
    """Files to tokenize: a run directory gives its last finished stage's parts; checked before Ray."""
    from pipeline import layout
    from pipeline.config import ConfigError
    from pipeline.runner import last_document_stage

    inputs: list[str] = []
    for item in items:
        if "://" in item:
            inputs.append(item)
        elif os.path.isdir(item):
            if not os.path.isfile(os.path.join(item, layout.CONFIG)):
                raise ConfigError(
                    f"{item} is not a run directory (no config.yaml) — give one `winnow run` wrote"
                )
            try:
                inputs += last_document_stage(item)
            except ValueError as e:
                raise ConfigError(f"{e} — run the pipeline first (`winnow run CONFIG`)") from e
        elif os.path.isfile(item):
            inputs.append(item)
        else:
            raise ConfigError(f"no such file or run directory: {item} — check the path")
    return inputs


def _cmd_tokenize(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from pipeline.config import format_validation_error
    from pipeline.executor import init_ray
    from pipeline.stages.tokenize import TokenizeProgress
    from tokenization import TokenizeConfig, TokenizeInputError, tokenize_to_dir

    raw = _load_yaml(args.config)
    if "tokenize" in raw and isinstance(raw["tokenize"], dict):
        raw = raw["tokenize"]
    try:
        cfg = TokenizeConfig.model_validate(raw)
    except ValidationError as e:
        print(
            f"error: {format_validation_error(e, args.config or 'tokenize options', TokenizeConfig)}",
            file=sys.stderr,
        )
        return 2
    inputs = _tokenize_inputs(args.input)
    _check_tokens_output(args.output, args.overwrite)
    try:
        _check_tokenize_inputs(inputs, cfg)
        init_ray(args.address)
        progress = TokenizeProgress()  # chunks encoded, as the pipeline's tokenize stage shows them
        try:
            stats = tokenize_to_dir(inputs, args.output, cfg, overwrite=args.overwrite, progress=progress)
        finally:
            progress.close()
    except TokenizeInputError as e:
        print(f"error: tokenize: {e}", file=sys.stderr)
        return 2
    print(json.dumps(_as_dict(stats), indent=2, default=str))
    if stats.documents_malformed:
        where = "skipped, counted as `documents_malformed`"
        _warn_malformed(stats.documents_malformed, stats.malformed_examples, where)
    return 0


def _check_tokenize_inputs(inputs: list[str], cfg: Any) -> None:
    """Every input file readable as documents with a text field, and the configured tokenizer usable:
    checked before Ray starts (a TokenizeInputError otherwise)."""
    from kit.files import expand_inputs
    from tokenization.inputs import check_input_file
    from tokenization.tokenizer import check_tokenizer_file, special_ids

    for path in expand_inputs(p for p in inputs if "://" not in p):
        check_input_file(path, cfg.text_column)
    if cfg.tokenizer.path:
        special_ids(check_tokenizer_file(cfg.tokenizer.path)[0], cfg)


def _check_tokens_output(output: str, overwrite: bool) -> None:
    """The tokens directory can be written: not a file, and not a finished one unless --overwrite."""
    from pipeline.config import ConfigError

    check_output_path(output, "-o", directory=True)
    if not overwrite and os.path.isdir(output) and os.listdir(output):
        raise ConfigError(f"{output} exists: pass --overwrite to replace it (or give another -o)")


def _train_input_error(config: str, tokens: str) -> str | None:
    """Why `winnow train` cannot start (a missing or invalid config, no tokens), checked before torch loads."""
    from pydantic import ValidationError

    from pipeline.config import format_validation_error
    from tokenization.pack import MANIFEST
    from trainer.config import Config, load_config

    if os.path.isdir(config):
        return f"{config} is a directory — give a model config file such as configs/moe-tiny.yaml"
    if not os.path.isfile(config):
        return f"train config not found: {config} — give a model config such as configs/moe-tiny.yaml"
    try:
        cfg = load_config(config)
    except ValidationError as e:
        return format_validation_error(e, config, Config)
    except YamlFileError as e:
        return str(e)
    except ValueError as e:
        return f"invalid config {config}: {e}"
    if not os.path.isfile(os.path.join(tokens, MANIFEST)):
        return _tokens_dir_error(tokens, MANIFEST)
    return _device_error(config, cfg.train.device)


def _tokens_dir_error(tokens: str, manifest: str) -> str:
    """Why `tokens` is not a tokens directory; a run directory gets its tokens/ named."""
    inner = os.path.join(tokens, "tokens")
    if os.path.isfile(os.path.join(inner, manifest)):
        return (
            f"no {manifest} in {tokens}: it is a run directory — give its tokens directory, --tokens {inner}"
        )
    return (
        f"no {manifest} in {tokens} — give the tokens directory the tokenize stage writes "
        "(runs/default/tokens after `make pipeline`)"
    )


def _device_error(config: str, device: str) -> str | None:
    """train.device: cuda on a torch without CUDA, refused before training starts (the trainer would raise)."""
    if device != "cuda":
        return None
    import torch

    if torch.cuda.is_available():
        return None
    return (
        f"{config}: train.device is 'cuda' but this torch sees no CUDA device (torch.cuda.is_available() "
        "is False) — set train.device: auto (or cpu), or install the CUDA build of torch"
    )


def _cmd_train(args: argparse.Namespace) -> int:
    check_at_least("--max-steps", args.max_steps, 1)
    check_output_path(args.out, "--out", directory=True)
    error = _train_input_error(args.config, args.tokens)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from trainer.train import CheckpointExistsError, TrainInputError, train

    try:
        result = train(
            args.config, args.tokens, args.out, resume=not args.no_resume, max_steps=args.max_steps
        )
    except (TrainInputError, CheckpointExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"checkpoint: {getattr(result, 'checkpoint_dir', args.out)}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    check_at_least("--max-new-tokens", args.max_new_tokens, 1)
    check_at_least("--temperature", args.temperature, 0, " (0 = greedy)")
    check_at_least("--top-k", args.top_k, 1)
    from trainer.generate import find_checkpoint, generate

    try:
        find_checkpoint(args.checkpoint)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    note = _context_note(args.checkpoint, args.prompt, args.max_new_tokens)
    if note:
        print(note, file=sys.stderr)
    print(args.prompt, end="", flush=True)
    for piece in generate(
        args.checkpoint,
        args.prompt,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
    ):
        print(piece, end="", flush=True)
    print()
    return 0


def _context_note(checkpoint: str, prompt: str, max_new_tokens: int) -> str:
    """A `note:` when --max-new-tokens asks for more than the model's context leaves after the prompt:
    decoding stops at the context, which would otherwise look like the model ending early ("" if not)."""
    from trainer.generate import load_model  # cached per checkpoint: generate() reuses this load

    model, tok, _ = load_model(checkpoint)
    n_ctx = int(model.cfg.max_seq_len)
    prompt_tokens = min(len(tok.encode(prompt).ids), n_ctx - 1) if prompt else 1  # generate's own cut
    room = n_ctx - prompt_tokens + 1
    if max_new_tokens <= room:
        return ""
    return (
        f"note: the model reads at most {n_ctx} tokens; after this prompt ({prompt_tokens} tokens) it writes "
        f"at most {room}, not --max-new-tokens {max_new_tokens}"
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from winnow.serve import run

    return run(args)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("filter", help="score texts against a policy")
    fsub = p.add_subparsers(dest="filter_command", required=True, metavar="SUBCOMMAND")
    what = (
        "one JSON line per non-blank input line: id, action, categories, lang, spans, text when "
        "redacted (an error record for a line that cannot be scored); then a JSON summary on stdout, "
        "on stderr with -o -"
    )
    s = fsub.add_parser("score", help=what, description=what)
    s.add_argument("input", help="JSONL with `text` (and `id`, `url`); - reads stdin")
    s.add_argument(
        "-o", "--output", required=True, help="output JSONL; - writes stdout (the summary to stderr)"
    )
    s.add_argument("--policy", help="policy YAML (default: the shipped policy, as configs/policy.yaml)")
    s.add_argument(
        "--mode",
        choices=["pretrain", "runtime"],
        default="pretrain",
        help="pretrain (default): judge training data, every category that applies to pretrain, "
        "including low_quality (short texts fail its heuristics), spam and language; "
        "runtime: judge model output as the server does, only harm, PII and secrets",
    )
    s.add_argument("--batch-size", type=int, default=256)
    s.set_defaults(func=_cmd_filter_score)

    p = sub.add_parser("dedup", help="exact + MinHash near-dedup of JSONL/Parquet files on their own")
    p.add_argument("input", nargs="*", help="JSONL or Parquet files with `id` and `text`")
    p.add_argument(
        "-o",
        "--output",
        help="output directory: kept/, rejected/, quarantine/ (malformed lines) and clusters.parquet",
    )
    p.add_argument("--config", help="YAML with dedup options (exact, minhash, survivor, ...)")
    p.add_argument("--threshold", type=float, help="target Jaccard similarity (overrides the config)")
    p.add_argument("--explain", action="store_true", help="print the S-curve of the LSH parameters")
    p.add_argument("--address", help="existing Ray cluster")
    p.set_defaults(func=_cmd_dedup)

    p = sub.add_parser("tokenize", help="tokenize a run directory or Parquet/JSONL files into Arrow shards")
    p.add_argument("input", nargs="+", help="a run directory, or Parquet/JSONL files")
    p.add_argument("-o", "--output", required=True, help="tokens directory to write")
    p.add_argument(
        "--config",
        help="YAML with tokenize options (or a run config with a tokenize section); without it the "
        "defaults apply, not a run's settings: pass the run's config to tokenize as the pipeline did",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing tokens directory")
    p.add_argument("--address", help="existing Ray cluster")
    p.set_defaults(func=_cmd_tokenize)

    p = sub.add_parser("train", help="train the bundled MoE model on a tokens directory")
    p.add_argument("config", help="model/training config, e.g. configs/moe-tiny.yaml")
    p.add_argument("--tokens", required=True, help="tokens directory (from the tokenize stage)")
    p.add_argument("--out", required=True, help="checkpoint/log directory")
    p.add_argument("--max-steps", type=int, help="stop this invocation at this global step (>= 1)")
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="start a new run: refuse an --out that already holds a checkpoint (never overwritten)",
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("generate", help="sample text from a trained checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--prompt", default="")
    p.add_argument("--max-new-tokens", type=int, default=100, help="at most this many tokens (>= 1)")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (>= 0; 0 = greedy)")
    p.add_argument("--top-k", type=int, default=50, help="sample among the k most likely tokens (>= 1)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_generate)

    from winnow.serve import add_arguments

    p = sub.add_parser(
        "serve", help="OpenAI-compatible server whose output passes the policy's runtime rules"
    )
    add_arguments(p)
    p.set_defaults(func=_cmd_serve)
