"""`make bench`: run every benchmark in one go and collect their tables.

Each benchmark is its own module (runnable alone with `python -m benchmarks.NAME`);
this runner executes them one after another in subprocesses (so peak-memory
figures do not leak between them) and writes their markdown output to benchmarks/out/.
The side-by-side benchmarks pin themselves to one CPU (`--core`, default 1) and write
machine-readable results with the date and machine to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
BENCHMARKS = [
    "ingest_speed",
    "ingest_memory",
    "extraction_quality",
    "dedup_speed",
    "dedup_quality",
    "filter_speed",
    "quality_speed",
    "tokenize_speed",
    "train_speed",
    "check_latency",
    "report_speed",
]


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.processor() or platform.machine()}, nproc={os.cpu_count()}, {mem:.0f} GiB, {dt.date.today()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=BENCHMARKS, help="benchmarks to run (default: all)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}\n")
    failed = []
    for name in args.names:
        if not (ROOT / "benchmarks" / f"{name}.py").exists():
            print(f"## {name}: not present, skipped\n")
            continue
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.perf_counter() - start
        (OUT / f"{name}.md").write_text(proc.stdout)
        print(f"## {name} ({took:.0f} s)\n\n{proc.stdout}")
        if proc.returncode != 0:
            failed.append(name)
            print(proc.stderr[-3000:], file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
