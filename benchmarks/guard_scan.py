"""StreamGuard cost per piece with and without `scan_every`: ~1 KB TinyStories fed in 4-character pieces.

    OMP_NUM_THREADS=1 taskset -c 1 .venv/bin/python -m benchmarks.guard_scan [--every 32] [--rounds 5]

The shipped runtime policy, the stories of tests/fixtures/shared/clean_text/tinystories_head.txt
longer than 600 characters (the first 60). Each round runs every setting once over all stories,
whole streams including `close()`, interleaved; CPU time per piece, median over rounds. `check()` of
each whole story is timed in the same rounds for scale. Writes benchmarks/results/guard_scan.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from benchmarks.machine import machine_info, positive_int, write_results
from filters import Filter, Policy, StreamGuard

REPO = Path(__file__).resolve().parents[1]
STORIES = REPO / "tests" / "fixtures" / "shared" / "clean_text" / "tinystories_head.txt"
PIECE = 4


def stream_all(f: Filter, stories: list[str], every: int) -> int:
    """Feed every story in PIECE-character pieces; returns the number of pieces."""
    n = 0
    for text in stories:
        g = StreamGuard(f, scan_every=every)
        for i in range(0, len(text), PIECE):
            g.feed(text[i : i + PIECE])
            n += 1
        g.close()
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=positive_int, default=32, help="the scan_every compared with 0")
    ap.add_argument("--rounds", type=positive_int, default=5, help="timed rounds (the figures are medians)")
    a = ap.parse_args(argv)
    if not STORIES.is_file():
        print(f"error: {STORIES} is missing: restore it from git", file=sys.stderr)
        return 2
    stories = [s for s in STORIES.read_text(encoding="utf-8").split("\n\n") if len(s) > 600][:60]
    f = Filter(Policy.load(REPO / "configs" / "policy.yaml"), mode="runtime")
    settings = (0, a.every)
    for every in settings:  # warm-up: models loaded, caches as in a running server
        stream_all(f, stories, every)
    us: dict[int, list[float]] = {k: [] for k in settings}
    check_ms: list[float] = []
    for _ in range(a.rounds):
        for every in settings:
            t0 = time.process_time()
            n = stream_all(f, stories, every)
            us[every].append((time.process_time() - t0) / n * 1e6)
        t0 = time.process_time()
        for text in stories:
            f.check(text)
        check_ms.append((time.process_time() - t0) / len(stories) * 1e3)
    figures = {
        "stories": len(stories),
        "mean_chars": round(statistics.fmean(map(len, stories))),
        "piece_chars": PIECE,
        "us_per_piece": {str(k): round(statistics.median(v), 1) for k, v in us.items()},
        "us_per_piece_rounds": {str(k): [round(x, 1) for x in v] for k, v in us.items()},
        "check_ms_per_story": round(statistics.median(check_ms), 2),
    }
    for k in settings:
        print(f"scan_every {k}: {figures['us_per_piece'][str(k)]} us per {PIECE}-character piece")
    print(f"check() of a whole story: {figures['check_ms_per_story']} ms")
    method = (
        f"CPU time per piece over whole streams (close() included), {len(stories)} stories, "
        f"{PIECE}-character pieces, settings interleaved in each of {a.rounds} rounds after a warm-up; medians"
    )
    write_results("guard_scan", figures, method=method, machine=machine_info())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
