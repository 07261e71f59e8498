"""Ingest memory stays flat as the corpus grows: peak RSS at 10k and 100k documents.

The benchmark corpus (benchmarks/corpus.py, ~4 KB documents) is written as one
JSONL.gz file per size; the ingest stage's per-source task (`ingest_source`,
the function each Ray task runs) reads it into a run directory in a fresh
subprocess, which reports its own peak RSS. A reader that held the file, or a
writer that buffered the part, would grow ~10x between the two sizes.

Usage: python -m benchmarks.ingest_memory [--sizes 10000 100000]
Writes benchmarks/results/ingest_memory.json (benchmarks.machine.write_results).
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import positive_int, write_results


def write_jsonl(path: Path, num_docs: int) -> int:
    from benchmarks.corpus import generate

    size = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        for doc in generate(num_docs, seed=0):
            line = json.dumps({"id": doc["id"], "text": doc["text"], "url": doc["url"]}) + "\n"
            size += len(line)
            f.write(line)
    return size


def measure(path: str, run_dir: str) -> dict:
    """Runs in the child: ingest one source, return docs, seconds and peak RSS."""
    from pipeline.config import IngestConfig
    from pipeline.stages.ingest import SourceFile, ingest_source

    cfg = IngestConfig(sources=[{"uri": path}], cache_dir=str(Path(run_dir) / "cache"))
    start = time.perf_counter()
    stats = ingest_source(0, SourceFile(path, path, "jsonl", None, "text"), cfg, run_dir)
    seconds = time.perf_counter() - start
    return {
        "documents": stats.input,
        "kept": stats.kept,
        "seconds": seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    from benchmarks import corpus

    if corpus.data_missing():
        sys.exit(2)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            src = Path(tmp) / f"corpus-{n}.jsonl.gz"
            text_bytes = write_jsonl(src, n)
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.ingest_memory",
                    "--child",
                    str(src),
                    str(Path(tmp) / f"run-{n}"),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                print(
                    f"error: the {n:,}-document ingest child failed (exit {proc.returncode}): {last}",
                    file=sys.stderr,
                )
                sys.exit(1)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r.update(size_docs=n, text_mb=text_bytes / 1e6, docs_per_s=r["documents"] / r["seconds"])
            rows.append(r)
    print("| documents | text MB | docs/s (1 core) | peak RSS MiB |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['size_docs']:,} | {r['text_mb']:.0f} | {r['docs_per_s']:,.0f} | {r['peak_rss_mib']:.0f} |"
        )
    if len(rows) >= 2:
        print(
            f"\npeak RSS ratio {rows[-1]['size_docs'] // rows[0]['size_docs']}x documents: "
            f"{rows[-1]['peak_rss_mib'] / rows[0]['peak_rss_mib']:.2f}x"
        )
    method = (
        "one run per size, each in a fresh subprocess (its own peak RSS = ru_maxrss) running the ingest "
        "stage's per-source task inline on one JSONL.gz file of the sampled benchmark corpus (seed 0); "
        "docs/s over that subprocess's ingest time, one process, no Ray"
    )
    write_results("ingest_memory", {"rows": rows}, method=method, packages=("pyarrow", "trafilatura"))


if __name__ == "__main__":
    main()
