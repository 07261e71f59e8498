"""`make bench`: run every speed and memory benchmark in one go and collect their tables.

Each benchmark is its own module (runnable alone with `python -m benchmarks.NAME`);
this runner executes them one after another in subprocesses (so peak-memory
figures do not leak between them) and writes their markdown output to benchmarks/out/.
Every benchmark in BENCHMARKS writes benchmarks/results/<name>.json through
`benchmarks.machine.write_results` (figures as numbers, the exact command, machine,
date and how the figures were measured; tests/test_bench_results.py holds them to it);
a benchmark that exits without writing it counts as failed. The side-by-side ones pin
themselves to one CPU (`--core`, default 1). The accuracy evaluations (eval_*) run
under `make eval`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.machine import RESULTS, machine_info

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


def wrote_results(name: str, since: float) -> bool:
    """Whether the run left a benchmarks/results/<name>*.json (variants such as tokenize_speed-1core
    count) newer than `since`."""
    return any(p.stat().st_mtime >= since for p in RESULTS.glob(f"{name}*.json"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=BENCHMARKS, help="benchmarks to run (default: all)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    m = machine_info()
    print(f"machine: {m['cpu']}, nproc={m['nproc']}, {m['memory_gib']} GiB, {m['date']}\n")
    failed = []
    for name in args.names:
        if not (ROOT / "benchmarks" / f"{name}.py").exists():
            print(f"## {name}: not present, skipped\n")
            continue
        outputs = []
        for extra in ARGS.get(name, [[]]):
            start = time.perf_counter()
            started = time.time()
            proc = subprocess.run(
                [sys.executable, "-m", f"benchmarks.{name}", *extra],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            took = time.perf_counter() - start
            title = " ".join([name, *extra])
            outputs.append(f"<!-- {title} -->\n{proc.stdout}")
            print(f"## {title} ({took:.0f} s)\n\n{proc.stdout}")
            if proc.returncode != 0:
                failed.append(title)
                print(proc.stderr[-3000:], file=sys.stderr)
            elif not wrote_results(name, started):
                failed.append(title)
                print(f"{title} wrote no benchmarks/results/{name}.json", file=sys.stderr)
        (OUT / f"{name}.md").write_text("\n".join(outputs))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
