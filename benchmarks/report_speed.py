"""Report speed on a large run: absolute time of `winnow report` with and without its row cap, and what
sampling costs in accuracy.

    taskset -c 1 .venv/bin/python -m benchmarks.report_speed [--rows 1000000] [--parts 8] [--repeat 3] [--core 1]

Builds a synthetic run directory shaped like the pipeline's (filter stage parts with score_*, quality,
lang_score, lang and a text column of real langid sentences, row groups of 512 rows as the filter stage
writes them; a rejected part; clusters; ledger), then times, in the same process:

* ``winnow report`` as shipped: `write_report` with the default cap (200k rows per stage, evenly spaced
  row groups, only the needed columns);
* ``winnow, no cap``: the same code reading every row (max_rows unbounded).

There is no side-by-side: no other tool renders this report, and a self-chosen baseline (an earlier version
compared with a bare `pyarrow.parquet.read_table` of all columns) says nothing a user can act on (issue 14),
so the figures are absolute: seconds (median of --repeat passes, the two variants interleaved, pinned to
one CPU) and rows per second.

Accuracy: the largest absolute difference, over all score histograms' bins and over language shares,
between the sampled report's shares and the full read's. Figures go to stdout as markdown and to
benchmarks/results/report_speed.json (benchmarks.machine.write_results).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.machine import SHARED_DATA, machine_info, pin_to_core, shared_data_missing, write_results
from pipeline.ledger import StageStats, ledger_dict
from report.data import DEFAULT_MAX_ROWS, collect
from report.page import write_report

REPO = Path(__file__).resolve().parents[1]
DATA = SHARED_DATA
OUT = REPO / "benchmarks" / "out"
WORK = OUT / "report_speed_work"
CATS = [
    "hate",
    "harassment",
    "sexual",
    "violence",
    "self_harm",
    "illicit",
    "profanity",
    "spam",
    "low_quality",
]


def _sentences() -> tuple[list[str], list[str]]:
    langs, texts = [], []
    with open(DATA / "langid" / "lingua_sentences_75lang_250each.tsv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            langs.append(row["lang"])
            texts.append(row["text"])
    return langs, texts


def build_run(rows: int, parts: int) -> Path:
    """A run dir with `rows` kept filter rows in `parts` parts; rebuilt only when the size changes."""
    run = WORK / f"run-{rows}-{parts}"
    if (run / "stats.json").exists():
        return run
    shutil.rmtree(WORK, ignore_errors=True)
    rng = np.random.default_rng(0)
    langs, texts = _sentences()
    names = sorted(set(langs))
    # Zipf-like language mix: a few big languages and a long tail, as on the web.
    weights = 1.0 / np.arange(1, len(names) + 1) ** 1.3
    weights /= weights.sum()
    removed_rows = rows // 10

    def table(n: int, removed: bool) -> pa.Table:
        idx = rng.integers(0, len(texts), n)
        cols: dict[str, pa.Array] = {
            "id": pa.array([f"{removed:d}-{i:012d}" for i in range(n)]),
            "text": pa.array([texts[i] for i in idx]),
            "source": pa.array(["s3://bucket/cc/part.warc.gz"] * n),
            "lang": pa.array(rng.choice(names, n, p=weights)),
            "lang_score": pa.array(rng.beta(8, 1, n).astype(np.float32)),
        }
        for c in CATS:
            cols[f"score_{c}"] = pa.array(
                (rng.beta(1, 12, n) + (0.5 if removed else 0)).clip(0, 1).astype(np.float32)
            )
        cols["quality"] = pa.array(rng.random(n).astype(np.float32))
        if removed:
            cols["stage"] = pa.array(["filter"] * n)
            cols["reason"] = pa.array(rng.choice(["hate", "spam", "language"], n))
        return pa.table(cols)

    per = rows // parts
    for p in range(parts):
        n = per if p < parts - 1 else rows - per * (parts - 1)
        path = run / "filter" / f"part-{p:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table(n, False), path, compression="zstd", row_group_size=512)
    rej = run / "rejected" / "filter" / "part-00000.parquet"
    rej.parent.mkdir(parents=True, exist_ok=True)
    rt = table(removed_rows, True)
    pq.write_table(rt, rej, compression="zstd", row_group_size=512)
    sizes = rng.zipf(2.2, rows // 20) + 1
    (run / "clusters").mkdir()
    pq.write_table(
        pa.table(
            {"cluster_id": [f"c{i}" for i in range(len(sizes))], "size": sizes, "kind": ["near"] * len(sizes)}
        ),
        run / "clusters" / "near_dedup.parquet",
    )
    reasons: dict[str, int] = {}
    for r in rt["reason"].to_pylist():
        reasons[r] = reasons.get(r, 0) + 1
    st = StageStats("filter", rows + removed_rows, rows, reasons, 0, 0, 0, 1.0)
    (run / "stats.json").write_text(json.dumps(ledger_dict([st])))
    (run / "config.yaml").write_text("name: report-bench\nfilter:\n  policy: policy.yaml\n")
    return run


def _time_interleaved(fns: dict, repeat: int) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds of each function over `repeat` round-robin passes."""
    walls: dict[str, list[float]] = {k: [] for k in fns}
    cpus: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            walls[name].append(time.perf_counter() - t)
            cpus[name].append(time.process_time() - c)
    return {
        k: {"seconds": statistics.median(walls[k]), "cpu_seconds": statistics.median(cpus[k])} for k in fns
    }


def _shares(data) -> dict[str, np.ndarray]:
    out = {}
    for name, sample in (("kept", data.scores_kept), ("removed", data.scores_removed)):
        for c in sample.table.column_names:
            if c.startswith("score_") or c in ("quality", "lang_score"):
                v = sample.table[c].to_numpy(zero_copy_only=False)
                h = np.histogram(np.clip(v, 0, 1), bins=np.linspace(0, 1, 21))[0]
                out[f"{name}:{c}"] = h / max(h.sum(), 1)
    return out


def accuracy(run: Path) -> dict[str, float]:
    sampled = collect(str(run))
    full = collect(str(run), max_rows=10**12)
    s, f = _shares(sampled), _shares(full)
    hist_err = max(float(np.abs(s[k] - f[k]).max()) for k in f)
    tot_s, tot_f = sum(sampled.langs_kept.values()), sum(full.langs_kept.values())
    lang_err = max(abs(sampled.langs_kept[k] / tot_s - full.langs_kept[k] / tot_f) for k in full.langs_kept)
    return {"max_bin_share_error": hist_err, "max_lang_share_error": lang_err}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--core", type=int, default=1, help="CPU the timed passes are pinned to")
    args = ap.parse_args(argv)
    if args.rows < 1 or args.parts < 1 or args.repeat < 1:
        print("error: --rows, --parts and --repeat must be >= 1", file=sys.stderr)
        sys.exit(2)
    if shared_data_missing(DATA, "langid/lingua_sentences_75lang_250each.tsv"):
        sys.exit(2)
    core = pin_to_core(args.core)

    t = time.perf_counter()
    run = build_run(args.rows, args.parts)
    build_s = time.perf_counter() - t
    parts = [
        *sorted((run / "filter").glob("part-*.parquet")),
        run / "rejected" / "filter" / "part-00000.parquet",
    ]
    on_disk = sum(p.stat().st_size for p in parts)
    total = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    out_html = WORK / "report.html"

    results = _time_interleaved(
        {
            "winnow report (cap 200k rows/stage)": lambda: write_report(str(run), str(out_html)),
            "winnow report, no cap": lambda: write_report(str(run), str(WORK / "full.html"), max_rows=10**12),
        },
        args.repeat,
    )
    acc = accuracy(run)
    html_kb = out_html.stat().st_size / 1024

    m = machine_info("pyarrow") | {"platform": platform.platform()}
    machine = f"{m['nproc']} CPUs, pinned to CPU {core}, {m['memory_gib']:.0f} GiB RAM, {m['platform']}"
    print(f"## report speed — {m['date']}\n\nmachine: {machine}\n")
    print(
        f"run: {total:,} filter rows ({args.rows:,} kept in {args.parts} parts + {total - args.rows:,} rejected), "
        f"row groups of 512, {on_disk / 2**20:.1f} MiB on disk (built in {build_s:.1f} s); median of {args.repeat} "
        "interleaved passes\n"
    )
    print("| what | seconds (wall) | CPU seconds | rows/s (wall) |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {total / r['seconds']:,.0f} |")
    print(
        f"\nsampled vs full: max |bin share difference| {acc['max_bin_share_error']:.4f} over all score histograms; "
        f"max |language share difference| {acc['max_lang_share_error']:.4f}; report.html {html_kb:.0f} KiB "
        f"(cap {DEFAULT_MAX_ROWS:,} rows per stage)"
    )
    figures = {
        "core": core,
        "rows": total,
        "parts": args.parts,
        "bytes_on_disk": on_disk,
        "repeat": args.repeat,
        "results": results,
        "accuracy": acc,
        "report_kib": html_kb,
        "cap": DEFAULT_MAX_ROWS,
    }
    method = (
        f"pinned to CPU {core}; the two variants interleaved, median of {args.repeat} passes (wall and process "
        "CPU seconds) over one synthetic run directory built first; accuracy = largest share difference "
        "between the sampled and the full read"
    )
    write_results("report_speed", figures, method=method, machine=m)


if __name__ == "__main__":
    main()
