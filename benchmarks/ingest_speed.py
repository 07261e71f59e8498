"""Ingest + extraction throughput on one core: winnow's read_records vs datatrove's WarcReader +
Trafilatura, side by side on the same WARC/WET/ARC files (../shared/data/web/warc), repeated N times.

Each system runs in its own subprocess (so peak RSS is its own) after one untimed warm-up pass.
Figures: documents/s (documents with non-empty extracted text), input MB/s (compressed bytes
read), CPU seconds (including datatrove's extraction subprocess), peak RSS. A second winnow run
over 4×N passes checks that memory stays flat as the input grows.

Run: .venv/bin/python -m benchmarks.ingest_speed [--reps N]
Writes benchmarks/out/ingest_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.machine import machine_info

SHARED = Path(os.environ.get("WINNOW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
WARC_DIR = SHARED / "web" / "warc"
OUT = Path(__file__).resolve().parent / "out"


def warc_files() -> list[Path]:
    return sorted(p for p in WARC_DIR.iterdir() if ".warc" in p.name or ".arc" in p.name)


def _winnow_pass(files: list[Path]) -> tuple[int, int]:
    from pipeline.ingest.readers import read_records
    from pipeline.ingest.records import Record

    docs = chars = 0
    for f in files:
        for rec in read_records(f, str(f)):
            if isinstance(rec, Record) and rec.text:
                docs += 1
                chars += len(rec.text)
    return docs, chars


def _datatrove_pass(files: list[Path]) -> tuple[int, int]:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader

    # the same file set: WarcReader's paths_file lists them relative to its data folder
    paths_file = OUT / "ingest_speed_paths.txt"
    paths_file.parent.mkdir(parents=True, exist_ok=True)
    paths_file.write_text("".join(f"{f.name}\n" for f in files))
    reader = WarcReader(str(WARC_DIR), paths_file=str(paths_file))
    extractor = Trafilatura(favour_precision=True, timeout=30.0)  # datatrove's defaults, as FineWeb runs it
    docs = chars = 0
    for doc in extractor.run(reader.run()):
        if doc.text:
            docs += 1
            chars += len(doc.text)
    return docs, chars


def worker(system: str, reps: int) -> dict:
    """Runs in a subprocess: warm-up pass, then `reps` timed passes."""
    files = warc_files()
    run = _winnow_pass if system == "winnow" else _datatrove_pass
    run(files)  # warm-up: imports, lazy trafilatura/lxml init
    t0, c0 = time.perf_counter(), time.process_time()
    docs = chars = 0
    for _ in range(reps):
        d, c = run(files)
        docs, chars = docs + d, chars + c
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "system": system,
        "reps": reps,
        "files": len(files),
        "input_bytes": reps * sum(f.stat().st_size for f in files),
        "docs": docs,
        "text_chars": chars,
        "wall_s": wall,
        "cpu_s": cpu + children.ru_utime + children.ru_stime,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _spawn(system: str, reps: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "benchmarks.ingest_speed", "--worker", system, "--reps", str(reps)]
    out = subprocess.run(
        cmd, check=True, capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1]
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5, help="timed passes over the file set")
    ap.add_argument("--worker", choices=["winnow", "datatrove"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.reps)))
        return
    rows = [_spawn("winnow", args.reps), _spawn("datatrove", args.reps), _spawn("winnow", 4 * args.reps)]
    m = machine_info("trafilatura", "datatrove")
    print(
        f"# Ingest + extraction speed, one core ({m['date']}, nproc={m['nproc']}, {m['memory_gib']} GiB, "
        f"trafilatura {m['trafilatura']}, datatrove {m['datatrove']})\n"
    )
    print(
        f"{rows[0]['files']} files from web/warc ({rows[0]['input_bytes'] // args.reps / 1e6:.2f} MB) × reps.\n"
    )
    print(
        "| system | reps | docs | docs/s | input MB/s | CPU s | docs per CPU-s "
        "| docs/s vs datatrove | docs per CPU-s vs datatrove | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        r["docs_per_s"] = r["docs"] / r["wall_s"]
        r["docs_per_cpu_s"] = r["docs"] / r["cpu_s"]
        r["mb_per_s"] = r["input_bytes"] / 1e6 / r["wall_s"]
    for r in rows:
        r["ratio_vs_datatrove"] = r["docs_per_s"] / rows[1]["docs_per_s"]
        r["cpu_ratio_vs_datatrove"] = r["docs_per_cpu_s"] / rows[1]["docs_per_cpu_s"]
        print(
            f"| {r['system']} | {r['reps']} | {r['docs']} | {r['docs_per_s']:.1f} | {r['mb_per_s']:.2f} "
            f"| {r['cpu_s']:.1f} | {r['docs_per_cpu_s']:.1f} | {r['ratio_vs_datatrove']:.2f} "
            f"| {r['cpu_ratio_vs_datatrove']:.2f} | {r['peak_rss_mib']:.0f} |"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "ingest_speed.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"machine": m, "runs": rows}, indent=2))
    os.replace(tmp, path)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
