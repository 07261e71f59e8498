"""`make bench`: run every speed and memory benchmark in one go and collect their tables.

Each benchmark is its own module (runnable alone with `python -m benchmarks.NAME`);
this runner executes them one after another in subprocesses (so peak-memory
figures do not leak between them) and writes their markdown output to benchmarks/out/.
Every benchmark in BENCHMARKS writes benchmarks/results/<name>.json through
`benchmarks.machine.write_results` (figures as numbers, the exact command, machine,
date and how the figures were measured; tests/test_bench_results.py holds them to it);
a benchmark that exits without writing it counts as failed. Progress goes to stderr: `running NAME (i/N)
...` before each run, its seconds after, and each benchmark's own stderr as it comes. The side-by-side ones pin
themselves to one CPU (`--core`, default 1). The accuracy evaluations (eval_*) run
under `make eval`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.machine import RESULTS, SHARED_DATA, machine_info, shared_data_missing

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
BENCHMARKS = [
    "ingest_speed",
    "ingest_memory",
    "extraction_quality",
    "dedup_speed",
    "dedup_quality",
    "signature_speed",
    "filter_speed",
    "quality_speed",
    "pathological",
    "encoder_speed",
    "tokenize_speed",
    "train_speed",
    "check_latency",
    "guard_scan",
    "serve_load",
    "report_speed",
    "scaling",
]
# The arguments that produced the tables BENCHMARKS.md cites, where they are not the script's defaults, so
# that `make bench` rewrites the cited results files (one entry per invocation; default: one bare run).
ARGS: dict[str, list[list[str]]] = {
    "encoder_speed": [["--texts", "32", "--runs", "3"]],
    "train_speed": [["--steps", "20"]],
    "tokenize_speed": [
        ["--cores", "1", "--tables", "speed", "--repeat", "3", "--tag", "1core"],
        ["--cores", "2", "--tables", "speed", "--tag", "2cores"],
    ],
}


# The benchmarks that read nothing from the shared data folder (synthetic inputs or tests/fixtures).
NO_SHARED_DATA = ("pathological", "train_speed", "guard_scan")


def wrote_results(name: str, since: float) -> bool:
    """Whether the run left a benchmarks/results/<name>*.json (variants such as tokenize_speed-1core
    count) newer than `since`."""
    return any(p.stat().st_mtime >= since for p in RESULTS.glob(f"{name}*.json"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}"
    )
    args = parser.parse_args(argv)
    names = args.names or BENCHMARKS
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(
            f"error: unknown benchmark {', '.join(unknown)}: the known ones are {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    if any(n not in NO_SHARED_DATA for n in names) and shared_data_missing(
        SHARED_DATA.parent, SHARED_DATA.name
    ):
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    m = machine_info()
    print(f"machine: {m['cpu']}, nproc={m['nproc']}, {m['memory_gib']} GiB, {m['date']}\n", flush=True)
    runs = [(name, extra) for name in names for extra in ARGS.get(name, [[]])]
    failed = []
    outputs: dict[str, list[str]] = {}
    for i, (name, extra) in enumerate(runs, 1):
        title = " ".join([name, *extra])
        print(f"running {title} ({i}/{len(runs)}) ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        started = time.time()
        # stdout is the benchmark's table (kept for benchmarks/out/); stderr (progress, errors) shows live.
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        took = time.perf_counter() - start
        outputs.setdefault(name, []).append(f"<!-- {title} -->\n{proc.stdout}")
        print(f"## {title} ({took:.0f} s)\n\n{proc.stdout}", flush=True)
        if proc.returncode != 0:
            failed.append(title)
            print(f"{title} failed (exit status {proc.returncode}) after {took:.0f} s", file=sys.stderr)
        elif not wrote_results(name, started):
            failed.append(title)
            print(f"{title} wrote no benchmarks/results/{name}.json ({took:.0f} s)", file=sys.stderr)
        else:
            print(f"done {title} in {took:.0f} s", file=sys.stderr, flush=True)
        if i == len(runs) or runs[i][0] != name:  # the benchmark's last invocation
            (OUT / f"{name}.md").write_text("\n".join(outputs[name]))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
