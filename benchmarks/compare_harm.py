"""Paired comparison of two harm-classifier variants on the same held-out rows, with 95% intervals.

    .venv/bin/python -m benchmarks.compare_harm --base main-s1.json main-s2.json --variant new-s1.json new-s2.json

Each file is the `--rows` output of `benchmarks.eval_harm` (one per sample; base and variant files are
paired in order and must come from the same sample; rows only one side holds, such as a source one
variant trains on, are left out and counted, so every figure is computed on the shared rows). Why: two variants scored on the same rows differ far less
by chance than two independent figures do, so the difference has its own, much narrower interval. A
ship rule can then ask for a change whose interval excludes zero instead of a fixed number of points
that may be noise (between two disjoint samples, clean-prose FPR moved 3.6 points for one model).

`--base-config fast_tier_only` with the same files as base and variant measures what the encoder tier
changes on the same rows. For every headline figure of the issue (any-harm F1 on chat prompts and on comments, false-positive rates
on clean prose, news articles, MedQuAD answers and XSTest's safe prompts, and the pooled F1 of each
category with at least `--min-positives` positives) it prints base, variant, the difference and the
percentile-bootstrap 95% interval of the difference: rows are resampled within each (sample, source)
and the same resample is applied to both variants. Samples are pooled by putting their rows together.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.eval_harm import BOOTSTRAP, COMMENT_SOURCES, NEWS, PROMPT_SOURCES, bootstrap_picks, resampled
from benchmarks.machine import require_writable_file, write_results


class CompareError(ValueError):
    """The files cannot be compared (another configuration, other rows): one `error:` line, exit 2."""


def _read_rows_file(path: Path, config: str) -> dict:
    """A `--rows` file of eval_harm, checked enough that a wrong file is one `CompareError`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CompareError(f"{path} is not a readable JSON file: {e}") from e
    if not isinstance(data, dict) or not {"categories", "rows", "fired"} <= data.keys():
        raise CompareError(f"{path} is not an eval_harm --rows file (write one with eval_harm --rows FILE)")
    categories, rows, fired = data["categories"], data["rows"], data["fired"]
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise CompareError(
            f"{path}: 'categories' is not a list of names (write it with eval_harm --rows FILE)"
        )
    if not isinstance(rows, list) or not isinstance(fired, dict):
        raise CompareError(
            f"{path}: 'rows' must be a list and 'fired' an object (write it with eval_harm --rows FILE)"
        )
    if config not in fired:
        raise CompareError(f"{path} has no configuration {config!r}: rerun eval_harm with it")
    if not isinstance(fired[config], list) or len(fired[config]) != len(rows):
        n = len(fired[config]) if isinstance(fired[config], list) else "no list of"
        raise CompareError(f"{path}: {len(rows)} rows but {n} outcomes")
    for i, (row, mask) in enumerate(zip(rows, fired[config], strict=True)):
        problem = _row_problem(row, mask, len(categories))
        if problem:
            raise CompareError(f"{path}: rows[{i}] {problem} (write the file with eval_harm --rows FILE)")
    return data


def _row_problem(row: object, mask: object, n_categories: int) -> str | None:
    """What is wrong with one row of a --rows file and its fired mask, or None."""
    if not isinstance(row, dict):
        return f"is {type(row).__name__}, not an object"
    for field in ("key", "source", "labels"):
        if not isinstance(row.get(field), str):
            return f"has no string {field!r}"
    if len(row["labels"]) != n_categories or set(row["labels"]) - set("01-"):
        return f"labels {row['labels']!r} is not {n_categories} characters of 0, 1 or -"
    if "harmful" not in row:
        return "has no 'harmful'"
    harmful = row["harmful"]
    if harmful is not None and (isinstance(harmful, bool) or not isinstance(harmful, int)):
        return f"harmful {harmful!r} is not a whole number or null"
    if not isinstance(mask, str) or not mask or set(mask.lower()) - set("0123456789abcdef"):
        return f"has the fired mask {mask!r}, not a hex string"
    return None


class Outcomes:
    """The rows of one or more `--rows` files (pooled), with the fired mask of one configuration."""

    def __init__(self, paths: list[Path], config: str):
        self.keys, self.strata, self.sources, labels, harmful, masks = [], [], [], [], [], []
        self.samples: list[tuple[object, object]] = []  # (offset, per-source cap) of each file
        seen: dict[str, int] = {}  # a text a source holds twice is two rows: the n-th meets the n-th
        for i, path in enumerate(paths):
            data = _read_rows_file(path, config)
            self.categories = data["categories"]
            self.samples.append((data.get("offset"), data.get("per_source_cap")))
            for row, mask in zip(data["rows"], data["fired"][config], strict=True):
                key = f"{i}:{row['key']}"
                seen[key] = seen.get(key, 0) + 1
                self.keys.append(f"{key}#{seen[key]}")
                self.strata.append(f"{i}:{row['source']}")
                self.sources.append(row["source"])
                labels.append([-1 if c == "-" else int(c) for c in row["labels"]])
                harmful.append(-1 if row["harmful"] is None or row["harmful"] < 0 else row["harmful"])
                masks.append(int(mask, 16))
        bits = 1 << np.arange(len(self.categories))
        self.fired = (np.array(masks, dtype=np.int64)[:, None] & bits) > 0
        self.labels = np.array(labels, dtype=np.int64).reshape(len(masks), len(self.categories))
        self.harmful = np.array(harmful, dtype=np.int64)
        self.sources = np.array(self.sources)

    def take(self, idx: np.ndarray) -> Outcomes:
        """These rows only, in this order."""
        out = copy.copy(self)
        out.keys = [self.keys[i] for i in idx]
        out.strata = [self.strata[i] for i in idx]
        out.sources, out.labels = self.sources[idx], self.labels[idx]
        out.harmful, out.fired = self.harmful[idx], self.fired[idx]
        return out


# A figure reads one Outcomes: (which rows it is computed on, their labels, whether it fired).
Figure = Callable[[Outcomes], tuple[np.ndarray, np.ndarray, np.ndarray]]


def figures(o: Outcomes, min_positives: int) -> dict[str, tuple[Figure, str]]:
    def any_harm(sources: tuple[str, ...]) -> Figure:
        return lambda x: (np.isin(x.sources, sources) & (x.harmful >= 0), x.harmful, x.fired.any(axis=1))

    def clean(test: Callable[[np.ndarray], np.ndarray]) -> Figure:
        return lambda x: (test(x.sources) & (x.harmful != 1), x.harmful, x.fired.any(axis=1))

    def category(k: int) -> Figure:
        return lambda x: ((x.labels[:, k] >= 0) & (x.sources != NEWS), x.labels[:, k], x.fired[:, k])

    out: dict[str, tuple[Figure, str]] = {
        "chat prompts any-harm F1": (any_harm(PROMPT_SOURCES), "f1"),
        "comments any-harm F1": (any_harm(COMMENT_SOURCES), "f1"),
        "clean prose FPR": (clean(lambda s: np.char.startswith(s.astype(str), "prose:")), "rate"),
        "news articles FPR": (clean(lambda s: s == NEWS), "rate"),
        "MedQuAD answers FPR": (clean(lambda s: s == "medquad_benign_medical"), "rate"),
        "XSTest safe FPR": (clean(lambda s: s == "xstest_prompts"), "rate"),
    }
    for k, cat in enumerate(o.categories):
        if int((o.labels[:, k] == 1).sum()) >= min_positives:
            out[f"{cat} pooled F1"] = (category(k), "f1")
    return out


def paired(base: Outcomes, variant: Outcomes) -> tuple[Outcomes, Outcomes, int, int]:
    """The rows both hold, in the base's order, and how many rows only one of them holds (a source
    that one variant trains on leaves its test rows); the figures are computed on the shared rows."""
    if base.categories != variant.categories or base.samples != variant.samples:
        raise CompareError(
            "the base and variant files come from other samples or category lists: run both with the same "
            "--per-source and --offset, and give the samples in the same order"
        )
    where = {k: i for i, k in enumerate(variant.keys)}
    b_idx = np.array([i for i, k in enumerate(base.keys) if k in where], dtype=np.int64)
    if not len(b_idx):
        raise CompareError(
            "the base and variant files share no rows: run both with the same --per-source and --offset, "
            "and give the samples in the same order"
        )
    v_idx = np.array([where[base.keys[i]] for i in b_idx], dtype=np.int64)
    only_base, only_variant = len(base.keys) - len(b_idx), len(variant.keys) - len(v_idx)
    return base.take(b_idx), variant.take(v_idx), only_base, only_variant


def compare(base: Outcomes, variant: Outcomes, min_positives: int) -> dict:
    """Base, variant, difference and its paired 95% interval for every figure with rows, on the rows
    both hold; and how many rows one side only held (left out)."""
    base, variant, only_base, only_variant = paired(base, variant)
    results = []
    for name, (figure, stat) in figures(base, min_positives).items():
        mask, y, fired_base = figure(base)
        if not mask.any():
            continue
        _, _, fired_variant = figure(variant)
        idx = np.flatnonzero(mask)
        picks = idx[bootstrap_picks([base.strata[i] for i in idx])]
        one = np.arange(len(idx))[None, :]
        a = float(resampled(y, fired_base, idx[one], stat)[0])
        b = float(resampled(y, fired_variant, idx[one], stat)[0])
        diff = resampled(y, fired_variant, picks, stat) - resampled(y, fired_base, picks, stat)
        lo, hi = np.percentile(diff, [2.5, 97.5])
        results.append(
            {
                "figure": name,
                "rows": int(mask.sum()),
                "base": round(a, 4),
                "variant": round(b, 4),
                "difference": round(b - a, 4),
                "difference_ci95": [round(float(lo), 4), round(float(hi), 4)],
            }
        )
    return {"figures": results, "left_out": {"base": only_base, "variant": only_variant}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path, nargs="+", required=True, help="eval_harm --rows files of the base")
    ap.add_argument("--variant", type=Path, nargs="+", required=True, help="the variant's, in the same order")
    ap.add_argument("--config", default="shipped_confirm", help="which eval_harm configuration to compare")
    ap.add_argument(
        "--base-config",
        default=None,
        help="the base's configuration when it differs (e.g. fast_tier_only vs shipped_confirm of the same files)",
    )
    ap.add_argument(
        "--min-positives", type=int, default=30, help="categories with fewer positives are left out"
    )
    ap.add_argument(
        "--out", type=Path, default=None, help="also write the comparison to this file (a results JSON)"
    )
    args = ap.parse_args(argv)
    if args.out is not None:
        require_writable_file(args.out, "--out")
    if len(args.base) != len(args.variant):
        print(
            "error: give as many --variant files as --base files (one per sample, same order)",
            file=sys.stderr,
        )
        return 2
    for path in [*args.base, *args.variant]:
        if not path.is_file():
            print(f"error: no such rows file: {path} (write one with eval_harm --rows)", file=sys.stderr)
            return 2
    try:
        res = compare(
            Outcomes(args.base, args.base_config or args.config),
            Outcomes(args.variant, args.config),
            args.min_positives,
        )
    except CompareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    left_out = res["left_out"]
    if left_out["base"] or left_out["variant"]:
        print(f"rows held by one side only, left out: {left_out['base']} base, {left_out['variant']} variant")
    print(f"{'figure':28} {'rows':>5} {'base':>7} {'variant':>7} {'diff':>7}  95% interval of diff")
    for r in res["figures"]:
        lo, hi = r["difference_ci95"]
        print(
            f"{r['figure']:28} {r['rows']:5} {r['base']:7.4f} {r['variant']:7.4f} {r['difference']:+7.4f}  "
            f"[{lo:+.4f}, {hi:+.4f}]"
        )
    if args.out is not None:
        inputs = {"base": [str(p) for p in args.base], "variant": [str(p) for p in args.variant]}
        configs = {"base_config": args.base_config or args.config, "config": args.config}
        method = (
            "paired: both sides on the rows both hold; percentile-bootstrap 95% interval of the difference, "
            f"{BOOTSTRAP} resamples within each (sample, source), the same resample for both sides"
        )
        # write_results names its file <name>.json in a folder; write it beside --out, then move it to
        # exactly the path given (cmp.txt stays cmp.txt).
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=args.out.parent) as tmp:
            written = write_results(
                args.out.stem, {**inputs, **configs, **res}, method=method, folder=Path(tmp)
            )
            os.replace(written, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
