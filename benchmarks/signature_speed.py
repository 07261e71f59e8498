"""MinHash signature speed (shingling included), this checkout against an earlier commit, in one process.

    taskset -c 1 .venv/bin/python -m benchmarks.signature_speed [--ref f1403e5] [--rounds 7] [--core 1]

Documents: the 954 test documents of the provenance benchmark's last test corpus (7,570 characters mean),
the ones `benchmarks.dedup_provenance` times. The reference implementation is `dedup/shingle.py` and
`dedup/minhash.py` as of --ref, loaded from `git show` into throwaway modules, so both run on the same
core, warm, in the same process; their signatures are checked to be identical first. Each round times
`signatures(texts, default MinHashConfig)` once per implementation, the order alternating between rounds,
pinned to --core with OMP_NUM_THREADS=1 semantics (numpy here is single-threaded); rates are medians of the
rounds, per CPU-second (time.process_time) and per wall second, and the speed-up is the median of the
per-round CPU ratios. Writes benchmarks/results/signature_speed.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.dedup_provenance import load_bases, split_of
from benchmarks.machine import (
    SHARED_DATA,
    cpu_probe,
    pin_to_core,
    positive_int,
    shared_data_missing,
    write_results,
)
from dedup.config import MinHashConfig
from dedup.minhash import signatures
from dedup.provenance import build_corpora

ROOT = Path(__file__).resolve().parents[1]
DATA = SHARED_DATA
# What `timed_documents` reads of the shared data (the provenance benchmark's news bases).
NEEDS = "web/article_extraction_benchmark/ground-truth.json"


def timed_documents(seed: int = 0, max_words: int = 3000) -> list[str]:
    """The documents `dedup_provenance` times: its last test corpus (all duplicate kinds together)."""
    bases = [b for b in load_bases(max_words) if split_of(b.key) == "test"]
    return list(build_corpora(bases, seed)[-1].texts)


# The last commit with the previous pass's shingling and signatures (the baseline of BENCHMARKS.md).
PREVIOUS_PASS = "f1403e5"


def _git(*args: str) -> subprocess.CompletedProcess | None:
    """`git ARGS` in the checkout (None where git cannot run)."""
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    except OSError:
        return None


def resolve_ref(ref: str) -> str:
    """The short hash of commit `ref`, or one `error:` line and exit 2 when this clone does not have it
    (a shallow clone lacks the history; a typo names nothing)."""
    proc = _git("rev-parse", "--short", "--verify", "--quiet", f"{ref}^{{commit}}")
    if proc is None or proc.returncode != 0 or not proc.stdout.strip():
        print(
            f"error: --ref {ref}: not a commit in this clone ({ROOT}); fetch the history "
            "(`git fetch --unshallow` in a shallow clone) or pass --ref with a commit it has",
            file=sys.stderr,
        )
        sys.exit(2)
    return proc.stdout.strip()


def _module(name: str, ref: str, path: str) -> types.ModuleType:
    proc = _git("show", f"{ref}:{path}")
    if proc is None or proc.returncode != 0:
        print(
            f"error: --ref {ref}: commit {ref} has no {path}; pass --ref with a commit that has it",
            file=sys.stderr,
        )
        sys.exit(2)
    src = proc.stdout
    mod = types.ModuleType(name)
    mod.__file__ = f"<{ref}:{path}>"
    exec(compile(src, mod.__file__, "exec"), mod.__dict__)
    return mod


def reference_signatures(ref: str) -> Callable:
    """`signatures` of dedup/minhash.py at `ref`, importing dedup/shingle.py at `ref`."""
    shingle = _module("ref_shingle", ref, "dedup/shingle.py")
    saved = sys.modules["dedup.shingle"]
    sys.modules["dedup.shingle"] = shingle  # the reference minhash imports its shingle_hashes_batch
    try:
        return _module("ref_minhash", ref, "dedup/minhash.py").signatures
    finally:
        sys.modules["dedup.shingle"] = saved


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--ref",
        default=PREVIOUS_PASS,
        help="commit whose dedup/{shingle,minhash}.py is the reference (default: the code before this pass)",
    )
    ap.add_argument("--rounds", type=positive_int, default=7)
    ap.add_argument("--core", type=int, default=1)
    a = ap.parse_args(argv)
    ref = resolve_ref(a.ref)
    if shared_data_missing(DATA, NEEDS):
        sys.exit(2)
    reference = reference_signatures(ref)
    texts = timed_documents()
    cfg = MinHashConfig()
    impls = {f"reference ({ref})": reference, "this checkout": signatures}
    core = pin_to_core(a.core)
    outs = [f(texts, cfg) for f in impls.values()]  # also warms the tables and permutations
    assert all(np.array_equal(outs[0], o) for o in outs[1:]), "signatures differ from the reference"
    load_before, probe_before = os.getloadavg()[0], cpu_probe()
    cpu: dict[str, list[float]] = {k: [] for k in impls}
    wall: dict[str, list[float]] = {k: [] for k in impls}
    for r in range(a.rounds):
        for name in list(impls)[:: 1 if r % 2 == 0 else -1]:
            t0, c0 = time.perf_counter(), time.process_time()
            impls[name](texts, cfg)
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - t0)
    names = list(impls)
    ratio = statistics.median(x / y for x, y in zip(cpu[names[0]], cpu[names[1]], strict=True))
    rows = [
        {
            "code": name,
            "docs_per_cpu_s": round(len(texts) / statistics.median(cpu[name])),
            "docs_per_s_wall": round(len(texts) / statistics.median(wall[name])),
            "cpu_s_rounds": [round(x, 4) for x in cpu[name]],
        }
        for name in names
    ]
    figures = {
        "documents": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts)),
        "rows": rows,
        "speedup_cpu_median_of_rounds": round(ratio, 3),
        "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpu_probe_before_after": [probe_before, cpu_probe()],
    }
    method = (
        f"{a.rounds} interleaved rounds (order alternating), one core (--core {core}), warm, same process; "
        "medians of the rounds; speed-up = median of per-round CPU-time ratios; signatures checked identical"
    )
    path = write_results("signature_speed", figures, method=method, packages=("numpy", "datasketch"))
    print(
        f"{len(texts)} documents, {figures['mean_chars']} chars mean; load {figures['load_average_before_after']}"
    )
    for row in rows:
        print(
            f"{row['code']:24s} {row['docs_per_cpu_s']:6d} docs/CPU-s {row['docs_per_s_wall']:6d} docs/s wall"
        )
    print(f"speed-up (CPU, median of rounds): {ratio:.2f}x -> {path}")


if __name__ == "__main__":
    main()
