"""Ingest + extraction throughput on one core: winnow's read_records vs datatrove's WarcReader +
Trafilatura, side by side on the same WARC/WET/ARC files (../shared/data/web/warc).

Fair by construction (issue 14):
- each system runs in its own long-lived subprocess, all pinned to the same CPU (`--core`, default 1);
- both are warmed equally: one untimed pass over the whole file set each, and trafilatura is imported and
  run once in datatrove's parent too, so the extraction process it forks per pass starts as warm as ours;
- the timed passes are interleaved round-robin (winnow, datatrove, winnow, ...) for `--reps` rounds;
- CPU time of a pass = (RUSAGE_SELF + RUSAGE_CHILDREN after the pass) - (the same before it): datatrove
  extracts in a child process that it forks and reaps once per pass, so the child's CPU is charged to the
  pass that used it and to no other. The MEDIAN pass is reported.
- the ratio against datatrove is per input byte: both read the same files, so it is datatrove's seconds per
  pass over ours (wall, and CPU). Documents per second are reported too, but not compared: the two count
  different documents on the same input (documents with non-empty text: winnow 46, datatrove 43 per pass on
  the 12 files), so a ratio of documents per second would credit whichever keeps more.
- datatrove's configuration: `Trafilatura(favour_precision=True)` as FineWeb runs it, with its other
  defaults (`deduplicate=True`, which winnow does not use), except `timeout=30.0` in place of its default
  1 s per document. The timeout only acts when a document's extraction runs past it (the document then
  yields no text); 30 s keeps a slow or loaded core from dropping documents from datatrove's side, and
  costs nothing otherwise.
Figures: documents/s (documents with non-empty extracted text), input MB/s (compressed bytes read),
CPU seconds per pass, peak RSS (datatrove's: the larger of its parent and its extraction child) after
the first and after the last pass, which shows whether memory grows with the input.

Run: taskset -c 1 .venv/bin/python -m benchmarks.ingest_speed [--reps 5] [--core 1]
Writes benchmarks/results/ingest_speed.json (benchmarks.machine.write_results).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from benchmarks.child import Child
from benchmarks.machine import (
    SHARED_DATA,
    cpu_probe,
    machine_info,
    pin_to_core,
    shared_data_missing,
    write_results,
)

SHARED = SHARED_DATA
WARC_DIR = SHARED / "web" / "warc"
OUT = Path(__file__).resolve().parent / "out"
SYSTEMS = ("winnow", "datatrove")
LABELS = {
    "winnow": "winnow read_records (extraction in process)",
    "datatrove": "datatrove WarcReader + Trafilatura(favour_precision=True) (extraction in a forked child)",
}


def warc_files() -> list[Path]:
    return sorted(p for p in WARC_DIR.iterdir() if ".warc" in p.name or ".arc" in p.name)


def _winnow_pass(files: list[Path]) -> tuple[int, int]:
    from ingest.readers import read_records
    from ingest.records import Record

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
    paths_file = OUT / f"ingest_speed_paths_{os.getpid()}.txt"
    paths_file.parent.mkdir(parents=True, exist_ok=True)
    paths_file.write_text("".join(f"{f.name}\n" for f in files))
    reader = WarcReader(str(WARC_DIR), paths_file=str(paths_file))
    # favour_precision=True as FineWeb runs it; datatrove's default timeout is 1 s per document (30 s here so
    # that no document of the set is dropped for time on a slow core; see the module docstring)
    extractor = Trafilatura(favour_precision=True, timeout=30.0)
    docs = chars = 0
    for doc in extractor.run(reader.run()):
        if doc.text:
            docs += 1
            chars += len(doc.text)
    paths_file.unlink(missing_ok=True)
    return docs, chars


def _cpu_seconds() -> float:
    """User + system CPU of this process and of its reaped children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def serve(system: str) -> None:
    """Child: one untimed warm-up pass, then one timed pass (a JSON line) per "run" line on stdin."""
    files = warc_files()
    run = _winnow_pass if system == "winnow" else _datatrove_pass
    if system == "datatrove":
        from datatrove.pipeline.extractors import Trafilatura

        # import + first-call init in the parent, inherited by the extraction child forked per pass
        Trafilatura(favour_precision=True).extract("<html><body><p>warm up</p></body></html>")
    run(files)  # warm-up pass: imports, lazy trafilatura/lxml init
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        c0, t0 = _cpu_seconds(), time.perf_counter()
        docs, chars = run(files)
        wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        print(
            json.dumps(
                {
                    "files": len(files),
                    "input_bytes": sum(f.stat().st_size for f in files),
                    "docs": docs,
                    "text_chars": chars,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "peak_rss_mib": _peak_rss_mib(),
                }
            ),
            flush=True,
        )


def start_child(system: str) -> Child:
    """A system's subprocess on this core; `ask()` runs one timed pass in it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "benchmarks.ingest_speed", "--worker", system]
    return Child(system, cmd, env, Path(__file__).parents[1], close_timeout_s=60)


def measure(reps: int) -> dict[str, list[dict]]:
    """Both children warm, then `reps` round-robin rounds of one timed pass each."""
    children = {s: start_child(s) for s in SYSTEMS}
    passes: dict[str, list[dict]] = {s: [] for s in SYSTEMS}
    try:
        for _ in range(reps):
            for s, child in children.items():
                passes[s].append(child.ask())
    finally:
        for child in children.values():
            child.close()
    return passes


def summarize(system: str, passes: list[dict]) -> dict:
    wall = statistics.median(p["wall_s"] for p in passes)
    cpu = statistics.median(p["cpu_s"] for p in passes)
    docs = passes[0]["docs"]
    return {
        "system": system,
        "label": LABELS[system],
        "reps": len(passes),
        "files": passes[0]["files"],
        "input_bytes": passes[0]["input_bytes"],
        "docs": docs,
        "docs_all_passes": sorted({p["docs"] for p in passes}),
        "wall_s": wall,
        "cpu_s": cpu,
        "wall_s_all": [round(p["wall_s"], 3) for p in passes],
        "cpu_s_all": [round(p["cpu_s"], 3) for p in passes],
        "docs_per_s": docs / wall,
        "docs_per_cpu_s": docs / cpu,
        "mb_per_s": passes[0]["input_bytes"] / 1e6 / wall,
        "mb_per_cpu_s": passes[0]["input_bytes"] / 1e6 / cpu,
        "peak_rss_first_mib": passes[0]["peak_rss_mib"],
        "peak_rss_last_mib": passes[-1]["peak_rss_mib"],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--reps", type=int, default=5, help="timed round-robin rounds (median reported)")
    ap.add_argument("--core", type=int, default=1, help="CPU both systems are pinned to")
    ap.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        serve(args.worker)
        return
    if args.reps < 1:
        print("error: --reps must be >= 1", file=sys.stderr)
        sys.exit(2)
    if shared_data_missing(WARC_DIR.parent, WARC_DIR.name):
        sys.exit(2)
    if not warc_files():
        print(
            f"error: no .warc/.arc files in {WARC_DIR}: the shared data folder is incomplete", file=sys.stderr
        )
        sys.exit(2)
    core = pin_to_core(args.core)
    m = machine_info("trafilatura", "datatrove")
    probe = [cpu_probe()]
    passes = measure(args.reps)
    probe.append(cpu_probe())
    m["load_average_after"] = round(os.getloadavg()[0], 2)
    rows = [summarize(s, passes[s]) for s in SYSTEMS]
    ref = rows[1]
    if any(r["input_bytes"] != ref["input_bytes"] for r in rows):
        sys.exit("error: the systems read different input; a per-byte ratio would not compare them")
    for r in rows:
        # per input byte (same files, so seconds per pass): the documents each counts differ
        r["bytes_ratio_vs_datatrove"] = ref["wall_s"] / r["wall_s"]
        r["cpu_bytes_ratio_vs_datatrove"] = ref["cpu_s"] / r["cpu_s"]
    print(
        f"# Ingest + extraction speed, one core ({m['date']}, nproc={m['nproc']}, {m['memory_gib']} GiB, "
        f"trafilatura {m['trafilatura']}, datatrove {m['datatrove']})\n"
    )
    print(
        f"{rows[0]['files']} files from web/warc ({rows[0]['input_bytes'] / 1e6:.2f} MB) per pass; both pinned "
        f"to CPU {core}, one untimed warm-up pass each, median of {args.reps} interleaved passes; CPU probe "
        f"{probe[0]} s / {probe[1]} s, load average {m['load_average']} / {m['load_average_after']}.\n"
    )
    print(
        "| system | passes | docs/pass | docs/s | input MB/s | CPU s/pass | input MB per CPU-s "
        "| vs datatrove per input byte (wall / CPU) | peak RSS MiB (pass 1 / last) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['label']} | {r['reps']} | {r['docs']} | {r['docs_per_s']:.1f} | {r['mb_per_s']:.2f} "
            f"| {r['cpu_s']:.2f} | {r['mb_per_cpu_s']:.2f} | {r['bytes_ratio_vs_datatrove']:.2f} / "
            f"{r['cpu_bytes_ratio_vs_datatrove']:.2f} | {r['peak_rss_first_mib']:.0f} / {r['peak_rss_last_mib']:.0f} |"
        )
    print(
        "\nThe ratio is per input byte (datatrove's seconds per pass over ours): the two count different "
        f"documents on the same files ({rows[0]['docs']} vs {rows[1]['docs']} with text), so documents per "
        "second are not compared."
    )
    method = (
        f"both systems in long-lived subprocesses pinned to CPU {core}, one untimed warm-up pass each, "
        f"{args.reps} interleaved timed passes, median pass; CPU = RUSAGE_SELF + RUSAGE_CHILDREN per pass; "
        "ratio vs datatrove per input byte (same files: its seconds per pass over ours), since the two count "
        "different documents; datatrove Trafilatura(favour_precision=True, timeout=30) with its other defaults"
    )
    path = write_results(
        "ingest_speed", {"core": core, "cpu_probe_s": probe, "runs": rows}, method=method, machine=m
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
