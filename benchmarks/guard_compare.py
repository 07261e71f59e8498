"""Runtime check() and StreamGuard cost of one checkout, for side-by-side runs of two versions.

    git worktree add /tmp/old REV
    for r in 1 2 3; do for root in /tmp/old "$PWD"; do
      (cd $root && OMP_NUM_THREADS=1 PYTHONPATH=$root taskset -c 0 \
         python "$OLDPWD/benchmarks/guard_compare.py" $root)
    done; done

Each run loads the checkout's shipped policy (runtime mode), times check() on 300 WikiText-2
windows of 2 KB (CPU time; 20 warm-up calls) and feeds 16,000 characters of WikiText-2 to a
StreamGuard in 4-character chunks. Alternate the two sides and compare medians: the machine's
single-core speed drifts between runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.machine import SHARED_DATA, shared_data_missing
from filters import Filter, Policy, StreamGuard

SHARED = SHARED_DATA
TEXT = "clean_text/wikitext2_test.txt"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Prints one JSON line: check() p50/p99 ms and StreamGuard microseconds per chunk.",
    )
    ap.add_argument(
        "root",
        nargs="?",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="the checkout whose configs/policy.yaml is loaded (default: this one)",
    )
    args = ap.parse_args(argv)
    policy = args.root / "configs" / "policy.yaml"
    if not policy.is_file():
        print(f"error: {policy} not found: pass the root folder of a winnow checkout", file=sys.stderr)
        return 2
    if shared_data_missing(SHARED, TEXT):
        return 2
    text = (SHARED / TEXT).read_text(encoding="utf-8")
    flt = Filter(Policy.load(str(policy)), mode="runtime")
    docs = [text[i : i + 2048] for i in range(0, 2048 * 300, 2048)]
    for doc in docs[:20]:
        flt.check(doc)
    times = []
    for doc in docs:
        start = time.process_time()
        flt.check(doc)
        times.append(time.process_time() - start)
    times.sort()
    stream = text[700_000:716_000]
    guard = StreamGuard(flt)
    start = time.process_time()
    chunks = 0
    for i in range(0, len(stream), 4):
        guard.feed(stream[i : i + 4])
        chunks += 1
    guard.close()
    per_chunk_us = (time.process_time() - start) / chunks * 1e6
    result = {
        "check_p50_ms": times[len(times) // 2] * 1e3,
        "check_p99_ms": times[int(len(times) * 0.99)] * 1e3,
        "stream_us_per_chunk": per_chunk_us,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
