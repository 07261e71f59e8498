"""Detector time vs input size on pathological documents: growth must stay linear.

    .venv/bin/python -m benchmarks.pathological [--max-mb 10] [--detectors langid,quality,toxicity]

For each detector (langid, quality, toxicity) and each kind of input (repeated
character, random bytes decoded as UTF-8, one giant token, many short lines,
mixed scripts), one document of 10 KB, 100 KB, 1 MB, 10 MB is scored alone and
timed once, after one short warm-up call per detector. The ratio column is
time(size) / time(size / 10): ≈ 10 means linear, ≫ 10 means a super-linear path. The JSON also holds
the same ratio in process CPU time, which the machine's other load does not inflate. Pin it to one
core (`taskset -c 1`). Writes benchmarks/results/pathological.json.
"""

from __future__ import annotations

import argparse
import os
import random
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from benchmarks.machine import known_names, machine_info, positive_int, write_results

MIXED = "Hello мир 世界 مرحبا नमस्ते γειά שלום こんにちは 안녕 สวัสดี "


def make(kind: str, size: int) -> str:
    """A deterministic document of about `size` characters."""
    if kind == "repeated char":
        return "a" * size
    if kind == "random bytes":
        return random.Random(size).randbytes(size).decode("utf-8", "replace")
    if kind == "giant token":
        rng = random.Random(size)
        return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=size))
    if kind == "short lines":
        return "ok\n" * (size // 3)
    if kind == "mixed scripts":
        return (MIXED * (size // len(MIXED) + 1))[:size]
    raise ValueError(kind)


KINDS = ("repeated char", "random bytes", "giant token", "short lines", "mixed scripts")
DETECTORS = ("langid", "quality", "toxicity")


def detectors(names: list[str]) -> dict:
    from filters.detectors.langid import LangIdDetector
    from filters.detectors.quality import QualityDetector
    from filters.detectors.toxicity import ToxicityDetector

    make_det = {"langid": LangIdDetector, "quality": QualityDetector, "toxicity": ToxicityDetector}
    out = {}
    for name in names:
        det = make_det[name]()
        det.detect_batch(["warm up the model and tokenizer."])
        out[name] = det
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-mb", type=positive_int, default=10, help="largest document, MB (at least 1)")
    ap.add_argument("--detectors", default=",".join(DETECTORS), help=f"any of {','.join(DETECTORS)}")
    args = ap.parse_args(argv)
    names = known_names("--detectors", args.detectors, DETECTORS)
    sizes = [s for s in (10_000, 100_000, 1_000_000, 10_000_000) if s <= args.max_mb * 1_000_000]
    dets = detectors(names)
    rows = []
    for name, det in dets.items():
        for kind in KINDS:
            prev = None
            for size in sizes:
                doc = make(kind, size)
                t0, c0 = time.perf_counter(), time.process_time()
                det.detect_batch([doc])
                secs, cpu = time.perf_counter() - t0, time.process_time() - c0
                rows.append(
                    {
                        "detector": name,
                        "input": kind,
                        "chars": size,
                        "seconds": secs,
                        "ratio_vs_10x_smaller": secs / prev[0] if prev else None,
                        "cpu_seconds": cpu,
                        "cpu_ratio_vs_10x_smaller": cpu / prev[1] if prev and prev[1] > 0 else None,
                    }
                )
                prev = (secs, cpu)
    m = machine_info("fasttext-numpy2-wheel", "spacy")
    print(f"# Pathological inputs ({m['date']}, nproc {m['nproc']}, {m['memory_gib']} GiB, 1 core)\n")
    print("| detector | input | chars | seconds | MB/s | ratio vs 10× smaller |\n|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['ratio_vs_10x_smaller']:.1f}" if r["ratio_vs_10x_smaller"] else "–"
        mbs = r["chars"] / r["seconds"] / 1e6
        print(
            f"| {r['detector']} | {r['input']} | {r['chars']:,} | {r['seconds']:.3f} | {mbs:.1f} | {ratio} |"
        )
    method = (
        "one document per (detector, input, size) scored alone with detect_batch, timed once by the wall "
        "clock (the table) and by process CPU time (cpu_seconds: what other load on the core does not "
        "inflate), models warmed by one short call first; synthetic deterministic inputs (no held-out "
        "notion); one thread (OMP_NUM_THREADS=1)"
    )
    write_results("pathological", {"rows": rows}, method=method, machine=m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
