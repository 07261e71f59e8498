"""Speed benchmark: MinHash signatures and full near-dedup, ours vs datasketch and datatrove, same documents.

    taskset -c 1 .venv/bin/python -m benchmarks.dedup_speed [--docs 3000] [--sig-docs 1000] [--reps 3]
                                                            [--parts sig,full,mem] [--core 1] [--ray]

Fair by construction (issue 14): every contender gets the same documents, 5-word shingles and 14 bands x 8
rows (112 hashes, datatrove's default MinhashConfig), runs on the same pinned core (`--core`, default 1:
`sched_setaffinity`, what `taskset -c 1` does; subprocesses inherit it), and the timed passes are
interleaved round-robin (`--reps` rounds, the median is reported). datatrove runs twice:

- its DEFAULT configuration: `MinhashConfig()` (xxhash, 64-bit) with `language="en"` (spaCy English word
  tokenizer). Its xxhash path hands `str` to xxhash, which xxhash>=4 refuses, so `_xxhash_accepts_str`
  wraps the two functions to encode UTF-8 first (what xxhash<4 did internally); nothing else changes.
- its fastest fair configuration: the same, with a whitespace word tokenizer (`str.split` on datatrove's own
  simplified text: lower-cased, punctuation removed), measured fastest of the variants in the signature
  table (sha1 and 32-bit xxhash are listed there too).

datasketch runs twice too: with its default hashfunc (sha1_hash32), and with its documented `hashfunc=` option
set to xxhash's 32-bit digest (`xxhash.xxh32_intdigest`, when xxhash is installed), its fastest fair
configuration, as datatrove gets one. Both are fed our shingles (`dedup.shingles`, the plain Python reference
shingler: datasketch has no shingler of its own), so their rows include that shingling cost.

Signatures are timed in this process, shingling included for everyone, after one untimed warm-up pass each.
Full near-dedup runs each system in a fresh subprocess (equally cold: imports happen before the clock
starts, nothing else is warmed) so its peak RSS (VmHWM) is its own: ours inline (LocalExecutor, no Ray,
exact dedup off, no Jaccard check, like datatrove) and datatrove's four MinHash stages with
LocalPipelineExecutor (1 task). `--ray` adds ours on Ray with 2 CPUs (not a one-core comparison; off by
default). The memory curve runs ours inline (default DedupConfig) on `benchmarks.corpus` Parquet shards at
each size. Writes benchmarks/out/dedup_speed.json (the parts of earlier runs, merged; a part neither run
now nor found there comes from the committed benchmarks/results/dedup_speed.json) and
benchmarks/results/dedup_speed.json (benchmarks.machine.write_results).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import known_names, number_list, usage_error

os.environ.setdefault("OMP_NUM_THREADS", "1")

OUT = Path(__file__).resolve().parent / "out"
# The committed results file: a partial run (--parts) takes the parts it did not run from here when the
# local out file (gitignored, absent in a fresh clone) lacks them.
RESULTS_FILE = Path(__file__).resolve().parent / "results" / "dedup_speed.json"
PARTS = ("sig", "full", "mem")
# Same LSH shape and shingles for everyone: 14 bands x 8 rows = 112 hashes over 5-word shingles (datatrove's
# default MinhashConfig; our own default is 3-word shingles and 32x4, chosen in benchmarks/dedup_provenance.py).
BANDS, ROWS, NGRAM = 14, 8, 5


def _machine() -> dict:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
    }


def _write_jsonl(docs, path: Path) -> None:
    with open(path, "w") as f:
        for i, t in docs:
            f.write(json.dumps({"id": i, "text": t}) + "\n")


def _vm_hwm_kib() -> int:
    """VmHWM (peak RSS of this process image); ru_maxrss would carry the parent's peak across exec."""
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(x.split()[1]) for x in status if x.startswith("VmHWM"))


# ------------------------------------------------------------------ datatrove configurations


def _xxhash_accepts_str() -> None:
    """Let datatrove's default xxhash run under xxhash>=4, which refuses `str`: encode UTF-8 first.

    datatrove's `create_hash_func` imports `xxhash32`/`xxhash64` from this module at call time, so patching
    the module attributes before a `MinhashDedupSignature` is built is enough. UTF-8 is what xxhash<4 hashed.
    """
    import xxhash
    from datatrove.utils.hashes import xxhash as dt_xxhash

    def xxhash32(data: str | bytes) -> int:
        return xxhash.xxh32_intdigest(data.encode() if isinstance(data, str) else data)

    def xxhash64(data: str | bytes) -> int:
        return xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)

    dt_xxhash.xxhash32, dt_xxhash.xxhash64 = xxhash32, xxhash64


def _whitespace_tokenizer():
    """datatrove WordTokenizer that splits on whitespace (its input is already simplified text)."""
    from datatrove.utils.word_tokenizers import WordTokenizer

    class Whitespace(WordTokenizer):
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return []

    return Whitespace()


# name -> (word tokenizer, hash function, precision); "default" is datatrove's own default.
DT_VARIANTS = {
    "default": ("en", "xxhash", 64),
    "whitespace": ("whitespace", "xxhash", 64),
    "whitespace-xxh32": ("whitespace", "xxhash", 32),
    "whitespace-sha1": ("whitespace", "sha1", 64),
}
DT_WORDS = {"en": "spaCy English words", "whitespace": "whitespace words"}
# The fastest fair datatrove configuration used in the full run (fastest variant of the signature table).
DT_FAST = "whitespace"


def _dt_step(variant: str, folder: str):
    """A datatrove MinhashDedupSignature (and its config) for one of DT_VARIANTS, 5-grams, 14x8."""
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig

    _xxhash_accepts_str()
    words, fc, precision = DT_VARIANTS[variant]
    cfg = MinhashConfig(
        n_grams=5,
        num_buckets=BANDS,
        hashes_per_bucket=ROWS,
        hash_config=HashConfig(precision=precision, hash_fc=fc),
    )
    tok = _whitespace_tokenizer() if words == "whitespace" else words
    return MinhashDedupSignature(folder, config=cfg, language=tok), cfg


def _dt_label(variant: str) -> str:
    words, fc, precision = DT_VARIANTS[variant]
    tag = "DEFAULT: " if variant == "default" else ""
    return f"datatrove ({tag}{DT_WORDS[words]}, {fc} {precision}-bit)"


def _ours_cfg():
    from dedup import MinHashConfig as OurCfg

    return OurCfg(num_perm=BANDS * ROWS, bands=BANDS, rows=ROWS, ngram=NGRAM)


# ------------------------------------------------------------------ signatures (in process, one core)


def bench_signatures(docs: list[str], reps: int) -> list[dict]:
    """Docs per CPU-second of each contender: one warm-up pass each, then `reps` interleaved rounds."""
    from datasketch import MinHash

    from dedup import shingles, signatures

    cfg = _ours_cfg()
    tmp = tempfile.mkdtemp()
    contenders = {
        f"winnow ({NGRAM}-word shingles, {BANDS * ROWS} perms)": lambda s: signatures(s, cfg),
        # datasketch's default hashfunc (sha1_hash32) over our shingles
        "datasketch MinHash.bulk (sha1)": lambda s: MinHash.bulk(
            [shingles(t, NGRAM) for t in s], num_perm=BANDS * ROWS
        ),
    }
    try:  # datasketch's fastest fair configuration: its `hashfunc=` option with a fast 32-bit hash
        import xxhash
    except ImportError:
        xxhash = None
    if xxhash is not None:
        contenders["datasketch MinHash.bulk (hashfunc=xxh32, fastest fair)"] = lambda s: MinHash.bulk(
            [shingles(t, NGRAM) for t in s], num_perm=BANDS * ROWS, hashfunc=xxhash.xxh32_intdigest
        )
    for variant in DT_VARIANTS:
        step, _ = _dt_step(variant, tmp)
        contenders[_dt_label(variant)] = lambda s, st=step: [st.get_signature(st.get_shingles(t)) for t in s]
    for fn in contenders.values():
        fn(docs)  # warm-up pass: lazy tables, permutations, spaCy model
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn(docs)
            times[name].append((time.perf_counter() - t0, time.process_time() - c0))
    rows = []
    for name, ts in times.items():
        wall = statistics.median(t for t, _ in ts)
        cpu = statistics.median(c for _, c in ts)
        rows.append(
            {
                "system": name,
                "docs": len(docs),
                "reps": reps,
                "seconds": wall,
                "docs_per_s": len(docs) / wall,
                "cpu_seconds": cpu,
                "docs_per_cpu_s": len(docs) / cpu,
            }
        )
    return rows


# ------------------------------------------------------------------ full near-dedup (subprocesses)


def _clock() -> tuple[float, float]:
    """(wall, CPU of this process and its reaped children): read at the start and end of a timed run."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), time.process_time() + kids.ru_utime + kids.ru_stime


def _ours_full(kind: str, jsonl: str, work: str) -> tuple[float, float, int]:
    from dedup import DedupConfig, run_dedup

    use_ray = kind == "ours_ray2"
    if use_ray:
        from kit.ray_local import start_local_ray

        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))  # Ray gets its 2 CPUs; the table says so
        start_local_ray(2, log_to_driver=False)  # start-up not counted
    cfg = DedupConfig(
        exact=dict(enabled=False),
        minhash=dict(num_perm=BANDS * ROWS, bands=BANDS, rows=ROWS, ngram=NGRAM, verify_jaccard=False),
        use_ray=use_ray,
        num_partitions=4 if use_ray else 1,
        rows_per_block=2500 if use_ray else 1_000_000,
    )
    paths = [jsonl]
    if use_ray:  # several JSONL files so Ray gets several blocks
        lines = Path(jsonl).read_text().splitlines(keepends=True)
        paths = []
        for k in range(0, len(lines), 2500):
            p = Path(work) / f"in-{k:08d}.jsonl"
            p.write_text("".join(lines[k : k + 2500]))
            paths.append(str(p))
    t0, c0 = _clock()
    stats = run_dedup(paths, str(Path(work) / "out"), cfg)
    t1, c1 = _clock()
    return t1 - t0, c1 - c0, stats.removed_near


def _datatrove_full(variant: str, jsonl: str, work: str) -> tuple[float, float, int]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    w = Path(work)
    src = str(Path(jsonl).parent)
    sig_step, mc = _dt_step(variant, str(w / "sigs"))
    stages = [
        [JsonlReader(src), sig_step],
        [MinhashDedupBuckets(str(w / "sigs"), str(w / "buckets"), config=mc)],
        [MinhashDedupCluster(str(w / "buckets"), str(w / "remove_ids"), config=mc)],
        [
            JsonlReader(src),
            MinhashDedupFilter(str(w / "remove_ids"), exclusion_writer=JsonlWriter(str(w / "removed"))),
            JsonlWriter(str(w / "kept")),
        ],
    ]
    t0, c0 = _clock()
    for i, (pipe, t) in enumerate(zip(stages, [1, BANDS, 1, 1], strict=True)):
        LocalPipelineExecutor(pipeline=pipe, tasks=t, workers=1, logging_dir=str(w / f"logs{i}")).run()
    t1, c1 = _clock()
    removed = sum(1 for f in (w / "removed").glob("*") for _ in gzip.decompress(f.read_bytes()).splitlines())
    return t1 - t0, c1 - c0, removed


def worker(kind: str, jsonl: str, work: str) -> dict:
    if kind == "ours_mem":
        from dedup import DedupConfig, run_dedup

        base = _vm_hwm_kib()
        paths = sorted(str(p) for p in Path(jsonl).glob("*.parquet"))
        t0 = time.perf_counter()
        stats = run_dedup(paths, str(Path(work) / "out"), DedupConfig(use_ray=False))
        return {
            "seconds": time.perf_counter() - t0,
            "removed": stats.removed_exact + stats.removed_near,
            "removed_exact": stats.removed_exact,
            "removed_near": stats.removed_near,
            "import_rss_mib": base / 1024,
            "peak_rss_mib": _vm_hwm_kib() / 1024,
            "bands_rows": f"{stats.bands}x{stats.rows}",
            "candidate_pairs": stats.candidate_pairs,
            "verified_pairs": stats.verified_pairs,
        }
    if kind.startswith("ours"):
        dt, cpu, removed = _ours_full(kind, jsonl, work)
    else:
        dt, cpu, removed = _datatrove_full(kind.removeprefix("datatrove-"), jsonl, work)
    peak = max(_vm_hwm_kib(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"seconds": dt, "cpu_seconds": cpu, "removed": removed, "peak_rss_mib": peak / 1024}


def run_memory(n: int) -> dict:
    """Our full dedup inline on n `benchmarks.corpus` documents (Parquet shards), in a fresh subprocess."""
    from benchmarks.corpus import write_corpus

    with tempfile.TemporaryDirectory() as work:
        src = Path(work) / "src"
        t0 = time.perf_counter()
        write_corpus(src, n)
        gen = time.perf_counter() - t0
        res = _subprocess("ours_mem", str(src), work)
    res.update(system="ours_mem", docs=n, docs_per_s=n / res["seconds"], corpus_seconds=gen)
    return res


def _subprocess(kind: str, jsonl: str, work: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.dedup_speed", "--worker", kind, "--jsonl", jsonl, "--work", work]
    out = subprocess.run(
        cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_worker(kind: str, docs) -> dict:
    with tempfile.TemporaryDirectory() as work:
        src = Path(work) / "src"
        src.mkdir()
        jsonl = src / "docs.jsonl"
        _write_jsonl(docs, jsonl)
        res = _subprocess(kind, str(jsonl), work)
    res.update(system=kind, docs=len(docs), docs_per_s=len(docs) / res["seconds"])
    return res


FULL_LABELS = {
    "ours_local": f"winnow inline, 1 core ({NGRAM}-word shingles, {BANDS}x{ROWS}, no Jaccard check)",
    "ours_ray2": "winnow on Ray, 2 CPUs (start-up excluded; NOT a one-core figure)",
    "datatrove-default": "datatrove 4 stages, DEFAULT config (spaCy English words, xxhash 64-bit)",
    f"datatrove-{DT_FAST}": "datatrove 4 stages, fastest fair config (whitespace words, xxhash 64-bit)",
}


def bench_full(docs, reps: int, kinds: list[str]) -> list[dict]:
    """Each kind in a fresh subprocess, `reps` round-robin rounds; median seconds, max peak RSS."""
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(reps):
        for kind in kinds:
            runs[kind].append(run_worker(kind, docs))
    rows = []
    for kind, rs in runs.items():
        sec = statistics.median(r["seconds"] for r in rs)
        cpu = statistics.median(r["cpu_seconds"] for r in rs)
        rows.append(
            {
                "system": kind,
                "label": FULL_LABELS[kind],
                "docs": len(docs),
                "reps": reps,
                "seconds": sec,
                "seconds_all": [round(r["seconds"], 3) for r in rs],
                "cpu_seconds": cpu,
                "docs_per_s": len(docs) / sec,
                "docs_per_cpu_s": len(docs) / cpu,
                "removed": sorted({r["removed"] for r in rs}),
                "peak_rss_mib": max(r["peak_rss_mib"] for r in rs),
            }
        )
    return rows


def _load() -> dict:
    one, five, fifteen = os.getloadavg()
    return {"load_1m": one, "load_5m": five, "load_15m": fifteen}


def _print_signatures(sig: list[dict], load: dict, core: int) -> None:
    print(
        f"signatures, pinned to CPU {core}, {NGRAM}-word shingles, {BANDS * ROWS} hashes, median of "
        f"{sig[0]['reps']} interleaved rounds after one warm-up pass each; load average before/after: "
        f"{load['before']['load_1m']:.2f} / {load['after']['load_1m']:.2f} (1 min) on {os.cpu_count()} CPUs\n"
    )
    ref, ref_cpu = sig[0]["docs_per_s"], sig[0]["docs_per_cpu_s"]
    print("| signatures (1 core) | docs | docs/s (wall) | docs/s (CPU time) | winnow / this (wall) | (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in sig:
        print(
            f"| {r['system']} | {r['docs']} | {r['docs_per_s']:.0f} | {r['docs_per_cpu_s']:.0f} | "
            f"{ref / r['docs_per_s']:.2f}x | {ref_cpu / r['docs_per_cpu_s']:.2f}x |"
        )


def _print_full(full: list[dict], core: int) -> None:
    base, base_cpu = full[0]["docs_per_s"], full[0]["docs_per_cpu_s"]
    print(
        f"\nfull near-dedup, each run a fresh process pinned to CPU {core}, median of {full[0]['reps']} "
        "round-robin rounds"
    )
    print(
        "\n| full near-dedup | docs | seconds (median) | docs/s | docs per CPU-s | removed | peak RSS MiB "
        "| winnow / this (wall) | (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in full:
        rss = f"{r['peak_rss_mib']:.0f}" + (" (driver only)" if r["system"] == "ours_ray2" else "")
        removed = "/".join(str(x) for x in r["removed"])
        print(
            f"| {r['label']} | {r['docs']} | {r['seconds']:.1f} | {r['docs_per_s']:.0f} | "
            f"{r['docs_per_cpu_s']:.0f} | {removed} | {rss} | {base / r['docs_per_s']:.2f}x | "
            f"{base_cpu / r['docs_per_cpu_s']:.2f}x |"
        )


def memory_fit(mem: list[dict], target_docs: int = 1_000_000) -> dict:
    """Least-squares lines peak_rss = a + b * docs (and a quadratic when 3+ sizes), evaluated at target_docs.

    The quadratic is printed as a check on linearity: candidate pairs grow faster than documents when
    duplicates come from a finite pool, and peak RSS must not follow them (the Jaccard check ships each
    shingle set once per partition, not once per candidate edge).
    """
    import numpy as np

    x = np.array([r["docs"] for r in mem], dtype=float)
    y = np.array([r["peak_rss_mib"] for r in mem], dtype=float)
    b, a = np.polyfit(x, y, 1)
    fit = {"intercept_mib": a, "mib_per_1k_docs": 1000 * b, "docs": target_docs}
    fit["peak_rss_gib"] = (a + b * target_docs) / 1024
    if len(x) >= 3:
        fit["quadratic_peak_rss_gib"] = float(np.polyval(np.polyfit(x, y, 2), target_docs)) / 1024
    return fit


def _print_memory(mem: list[dict], fit: dict) -> None:
    print(
        "\n| full dedup inline (LocalExecutor, default config) | docs | seconds | docs/s | removed exact | "
        "removed near | candidate pairs | verified pairs | RSS after imports MiB | peak RSS MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in mem:
        print(
            f"| ours_mem ({r['bands_rows']}) | {r['docs']} | {r['seconds']:.1f} | {r['docs_per_s']:.0f} | "
            f"{r['removed_exact']} | {r['removed_near']} | {r.get('candidate_pairs', 'n/a')} | "
            f"{r.get('verified_pairs', 'n/a')} | {r['import_rss_mib']:.0f} | {r['peak_rss_mib']:.0f} |"
        )
    print(
        f"\nlinear fit: peak RSS = {fit['intercept_mib']:.0f} MiB + {fit['mib_per_1k_docs']:.1f} MiB per 1k docs"
        f" -> {fit['docs']:,} docs: {fit['peak_rss_gib']:.1f} GiB "
        f"({'fits' if fit['peak_rss_gib'] < 24 else 'does NOT fit'} in 24 GiB)"
    )
    if "quadratic_peak_rss_gib" in fit:
        q = fit["quadratic_peak_rss_gib"]
        print(
            f"quadratic fit -> {fit['docs']:,} docs: {q:.1f} GiB ({'fits' if q < 24 else 'does NOT fit'} in 24 GiB)"
        )


def earlier_figures(out_path: Path, committed: Path | None = None) -> dict:
    """The figures a run starts from, so that the parts it does not run (--parts) are kept: the local out
    file's (this checkout's earlier runs), and for every figure it lacks, the committed results file's
    (its `figures`; the per-part `commands` and `part_runs` are merged, the out file's entries winning).
    In a fresh clone there is no out file, and a partial run keeps the committed figures of the other
    parts instead of dropping them."""
    committed = RESULTS_FILE if committed is None else committed
    result = json.loads(out_path.read_text()) if out_path.exists() else {}
    if committed.exists():
        for key, value in json.loads(committed.read_text()).get("figures", {}).items():
            if key not in result:
                result[key] = value
            elif key in ("commands", "part_runs") and isinstance(value, dict):
                result[key] = {**value, **result[key]}
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=3000, help="documents of the full near-dedup")
    ap.add_argument("--sig-docs", type=int, default=1000, help="documents of the signature table")
    ap.add_argument("--reps", type=int, default=3, help="interleaved timed rounds (median reported)")
    ap.add_argument("--core", type=int, default=1, help="CPU every timed run is pinned to")
    ap.add_argument("--mem-sizes", default="100000,300000", help="comma-separated corpus sizes")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"any of {','.join(PARTS)}, comma-separated")
    ap.add_argument("--skip-datatrove-full", action="store_true")
    ap.add_argument("--ray", action="store_true", help="also run ours on Ray with 2 CPUs (full part)")
    ap.add_argument("--worker")
    ap.add_argument("--jsonl")
    ap.add_argument("--work")
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker, a.jsonl, a.work)))
        return
    if a.docs < 1 or a.sig_docs < 1 or a.reps < 1:
        usage_error("--docs, --sig-docs and --reps must be >= 1")
    # Every argument is checked here, before the first part runs (a part takes minutes).
    parts = set(known_names("--parts", a.parts, PARTS))
    mem_sizes = number_list("--mem-sizes", a.mem_sizes, int, "document counts")
    from benchmarks import corpus, dedup_data

    if dedup_data.data_missing() or ("mem" in parts and corpus.data_missing()):
        sys.exit(2)
    out_path = OUT / "dedup_speed.json"
    try:
        result = earlier_figures(out_path)
    except (OSError, ValueError) as e:  # ValueError: not JSON
        usage_error(f"cannot read the earlier figures in {out_path} or {RESULTS_FILE}: {e}")
    from benchmarks.dedup_data import speed_docs
    from benchmarks.machine import (
        code_version,
        command_line,
        cpu_model,
        cpu_probe,
        machine_info,
        pin_to_core,
        write_results,
    )

    OUT.mkdir(exist_ok=True)
    result["machine"] = _machine()
    m = result["machine"]
    print(
        f"machine: {m['nproc']} CPUs, {m['memory_gib']} GiB, {m['date']}; {BANDS}x{ROWS} LSH, "
        f"{NGRAM}-word shingles where compared\n"
    )
    docs = speed_docs(max(a.docs, a.sig_docs))
    result["avg_doc_bytes"] = sum(len(t.encode()) for _, t in docs[: a.docs]) / a.docs
    cpus = os.sched_getaffinity(0)
    core = pin_to_core(a.core)
    fair = {"core": core, "reps": a.reps, "cpu_probe_before": cpu_probe()}
    try:
        if "sig" in parts:
            load = {"before": _load()}
            sig = bench_signatures([t for _, t in docs[: a.sig_docs]], a.reps)
            load["after"] = _load()
            result.update(signatures=sig, signatures_load=load, lsh={"bands": BANDS, "rows": ROWS})
            print(f"avg doc {result['avg_doc_bytes']:.0f} B")
            _print_signatures(sig, load, core)
        if "full" in parts:
            kinds = ["ours_local"] + (["ours_ray2"] if a.ray else [])
            if not a.skip_datatrove_full:
                kinds += ["datatrove-default", f"datatrove-{DT_FAST}"]
            result["full"] = bench_full(docs[: a.docs], a.reps, kinds)
            result["full_load"] = _load()
            _print_full(result["full"], core)
    finally:
        os.sched_setaffinity(0, cpus)
    fair["cpu_probe_after"] = cpu_probe()
    result["fairness"] = fair
    if "mem" in parts:
        # Merged by size with earlier runs' points (peak RSS does not depend on load), so sizes can be added.
        measured = {r["docs"]: r for r in result.get("memory_curve", [])}
        measured.update({n: run_memory(n) for n in mem_sizes})
        mem = [measured[n] for n in sorted(measured)]
        fit = memory_fit(mem)
        result.update(memory_curve=mem, memory_fit=fit, memory_load=_load())
        _print_memory(mem, fit)
    command = command_line()  # with its nice/taskset prefixes
    result["commands"] = {**result.get("commands", {}), **dict.fromkeys(sorted(parts), command)}
    # The file merges the parts of several runs: each part says when, where and with which code it ran.
    run = {
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu_model().get("cpu_model"),
        "commit": code_version()["commit"],
    }
    result["part_runs"] = {**result.get("part_runs", {}), **dict.fromkeys(sorted(parts), run)}
    out_path.write_text(json.dumps(result, indent=1))
    method = (
        f"pinned to CPU {core}; signatures: in this process after one untimed warm-up pass each, {a.reps} "
        "interleaved rounds, median; full near-dedup: each system in a fresh subprocess (imports before the "
        f"clock), {a.reps} interleaved rounds, median, peak RSS = VmHWM; memory curve: one run per size; parts "
        "not run now come from earlier runs ('commands' names the command of each part, 'part_runs' its date, "
        "CPU and commit where recorded)"
    )
    write_results(
        "dedup_speed",
        {k: v for k, v in result.items() if k != "machine"},
        method=method,
        machine=machine_info("datatrove", "datasketch", "xxhash", "spacy", "numpy"),
    )


if __name__ == "__main__":
    main()
