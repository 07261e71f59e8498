"""Speed benchmark: MinHash signatures and full near-dedup, ours vs datasketch and datatrove, same documents.

    .venv/bin/python -m benchmarks.dedup_speed [--docs 10000] [--sig-docs 2000] [--mem-sizes 100000,300000]
                                               [--parts sig,full,mem]

Signatures are timed in this process pinned to CPU 0 (`sched_setaffinity`, what `taskset -c 0` does),
shingling included for everyone; wall and CPU-time docs/s are both reported with the load average, because
the machine is shared. Full near-dedup runs each system in a fresh subprocess so its peak RSS (VmHWM) is its
own: ours inline on one core (LocalExecutor, no Ray), ours on Ray with 2 CPUs (time only: Ray workers are
separate processes), and datatrove's four MinHash stages with LocalPipelineExecutor (1 task). The memory
curve runs ours inline (LocalExecutor, one process, default DedupConfig: exact + 12x10 near-dedup with the
Jaccard check) on `benchmarks.corpus` Parquet shards at each size, and fits peak RSS = a + b * docs to
extrapolate to 1M documents. Writes benchmarks/out/dedup_speed.json.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

OUT = Path(__file__).resolve().parent / "out"
# Same LSH shape for everyone: 14 bands x 8 rows = 112 hashes (datatrove's default MinhashConfig).
BANDS, ROWS = 14, 8


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


# ------------------------------------------------------------------ signatures (in process, one core)


def _dt_config(minhash_config, hash_config):
    """datatrove config with its sha1 shingle hash: its default xxhash path passes str, which xxhash>=4 refuses."""
    return minhash_config(num_buckets=BANDS, hashes_per_bucket=ROWS, hash_config=hash_config(hash_fc="sha1"))


def bench_signatures(docs: list[str]) -> list[dict]:
    from datasketch import MinHash
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.word_tokenizers import WordTokenizer

    from dedup import MinHashConfig as OurCfg
    from dedup import shingles, signatures

    cfg = OurCfg(num_perm=BANDS * ROWS, bands=BANDS, rows=ROWS)
    rows = []

    def timed(name: str, fn, sample: list[str]) -> None:
        fn(sample[:20])  # warm-up: lazy tables, permutations, imports
        c0, t0 = time.process_time(), time.perf_counter()
        fn(sample)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append(
            {
                "system": name,
                "docs": len(sample),
                "seconds": dt,
                "docs_per_s": len(sample) / dt,
                "cpu_seconds": cpu,
                "docs_per_cpu_s": len(sample) / cpu,
            }
        )

    timed(f"winnow (numpy word hashes, {BANDS * ROWS} perms)", lambda s: signatures(s, cfg), docs)
    timed("winnow (default 128 perms)", lambda s: signatures(s, OurCfg()), docs)

    def ds_bulk(s):
        MinHash.bulk([shingles(t) for t in s], num_perm=BANDS * ROWS)  # default sha1_hash32

    timed("datasketch MinHash.bulk (sha1)", ds_bulk, docs)

    class Whitespace(WordTokenizer):
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return []

    tmp = tempfile.mkdtemp()
    for label, tok, n in [("whitespace", Whitespace(), len(docs)), ("en (spaCy)", "en", min(len(docs), 300))]:
        step = MinhashDedupSignature(tmp, config=_dt_config(MinhashConfig, HashConfig), language=tok)
        timed(
            f"datatrove MinhashDedupSignature ({label})",
            lambda s, st=step: [st.get_signature(st.get_shingles(t)) for t in s],
            docs[:n],
        )
    return rows


# ------------------------------------------------------------------ full near-dedup (subprocesses)


def worker(kind: str, jsonl: str, work: str) -> dict:
    t0 = time.perf_counter()
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
    if kind in ("ours_local", "ours_ray2"):
        from dedup import DedupConfig, run_dedup

        use_ray = kind == "ours_ray2"
        if use_ray:
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            t0 = time.perf_counter()  # Ray start-up (~5-10 s) not counted
        cfg = DedupConfig(
            exact=dict(enabled=False),
            minhash=dict(num_perm=BANDS * ROWS, bands=BANDS, rows=ROWS, verify_jaccard=False),
            use_ray=use_ray,
            num_partitions=4 if use_ray else 1,
            rows_per_block=2500 if use_ray else 1_000_000,
        )
        # Split into several JSONL files so Ray gets several blocks.
        paths = [jsonl]
        if use_ray:
            lines = Path(jsonl).read_text().splitlines(keepends=True)
            paths = []
            for k in range(0, len(lines), 2500):
                p = Path(work) / f"in-{k:08d}.jsonl"
                p.write_text("".join(lines[k : k + 2500]))
                paths.append(str(p))
        stats = run_dedup(paths, str(Path(work) / "out"), cfg)
        removed = stats.removed_near
    else:
        from datatrove.executor import LocalPipelineExecutor
        from datatrove.pipeline.dedup.minhash import (
            MinhashConfig,
            MinhashDedupBuckets,
            MinhashDedupCluster,
            MinhashDedupFilter,
            MinhashDedupSignature,
        )
        from datatrove.pipeline.readers import JsonlReader
        from datatrove.pipeline.writers import JsonlWriter
        from datatrove.utils.hashing import HashConfig

        mc = _dt_config(MinhashConfig, HashConfig)
        w = Path(work)
        src = str(Path(jsonl).parent)
        stages = [
            [JsonlReader(src), MinhashDedupSignature(str(w / "sigs"), config=mc, language="en")],
            [MinhashDedupBuckets(str(w / "sigs"), str(w / "buckets"), config=mc)],
            [MinhashDedupCluster(str(w / "buckets"), str(w / "remove_ids"), config=mc)],
            [
                JsonlReader(src),
                MinhashDedupFilter(str(w / "remove_ids"), exclusion_writer=JsonlWriter(str(w / "removed"))),
                JsonlWriter(str(w / "kept")),
            ],
        ]
        tasks = [1, BANDS, 1, 1]
        for i, (pipe, t) in enumerate(zip(stages, tasks, strict=True)):
            LocalPipelineExecutor(pipeline=pipe, tasks=t, workers=1, logging_dir=str(w / f"logs{i}")).run()
        removed = sum(
            1 for f in (w / "removed").glob("*") for _ in gzip.decompress(f.read_bytes()).splitlines()
        )
    dt = time.perf_counter() - t0
    hwm = _vm_hwm_kib()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": dt, "removed": removed, "peak_rss_mib": max(hwm, kids) / 1024}


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


def _load() -> dict:
    one, five, fifteen = os.getloadavg()
    return {"load_1m": one, "load_5m": five, "load_15m": fifteen}


def _print_signatures(sig: list[dict], load: dict) -> None:
    print(
        f"signatures, pinned to CPU 0; load average before/after: {load['before']['load_1m']:.2f} / "
        f"{load['after']['load_1m']:.2f} (1 min) on {os.cpu_count()} CPUs\n"
    )
    ref, ref_cpu = sig[0]["docs_per_s"], sig[0]["docs_per_cpu_s"]
    print("| signatures (1 core) | docs | docs/s (wall) | docs/s (CPU time) | winnow / this (wall) | (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in sig:
        print(
            f"| {r['system']} | {r['docs']} | {r['docs_per_s']:.0f} | {r['docs_per_cpu_s']:.0f} | "
            f"{ref / r['docs_per_s']:.2f}x | {ref_cpu / r['docs_per_cpu_s']:.2f}x |"
        )


def _print_full(full: list[dict]) -> None:
    base = full[0]["docs_per_s"]
    print("\n| full near-dedup | docs | seconds | docs/s | peak RSS MiB | winnow 1-core / this |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in full:
        rss = f"{r['peak_rss_mib']:.0f}" + (" (driver only)" if r["system"] == "ours_ray2" else "")
        print(
            f"| {r['system']} | {r['docs']} | {r['seconds']:.1f} | {r['docs_per_s']:.0f} | {rss} | "
            f"{base / r['docs_per_s']:.2f}x |"
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--sig-docs", type=int, default=2000)
    ap.add_argument("--mem-sizes", default="100000,300000", help="comma-separated corpus sizes")
    ap.add_argument("--parts", default="sig,full,mem", help="any of sig,full,mem")
    ap.add_argument("--skip-datatrove-full", action="store_true")
    ap.add_argument("--worker")
    ap.add_argument("--jsonl")
    ap.add_argument("--work")
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.jsonl, a.work)))
        return
    from benchmarks.dedup_data import speed_docs

    parts = set(a.parts.split(","))
    OUT.mkdir(exist_ok=True)
    out_path = OUT / "dedup_speed.json"
    result = json.loads(out_path.read_text()) if out_path.exists() else {}
    result["machine"] = _machine()
    m = result["machine"]
    print(
        f"machine: {m['nproc']} CPUs, {m['memory_gib']} GiB, {m['date']}; {BANDS}x{ROWS} LSH where compared\n"
    )
    docs = speed_docs(max(a.docs, a.sig_docs))
    result["avg_doc_bytes"] = sum(len(t.encode()) for _, t in docs[: a.docs]) / a.docs
    if "sig" in parts:
        cpus = os.sched_getaffinity(0)
        load = {"before": _load()}
        os.sched_setaffinity(0, {min(cpus)})
        try:
            sig = bench_signatures([t for _, t in docs[: a.sig_docs]])
        finally:
            os.sched_setaffinity(0, cpus)
        load["after"] = _load()
        result.update(signatures=sig, signatures_load=load, lsh={"bands": BANDS, "rows": ROWS})
        print(f"avg doc {result['avg_doc_bytes']:.0f} B")
        _print_signatures(sig, load)
    if "full" in parts:
        full = [run_worker("ours_local", docs[: a.docs]), run_worker("ours_ray2", docs[: a.docs])]
        if not a.skip_datatrove_full:
            full.append(run_worker("datatrove", docs[: a.docs]))
        result["full"] = full
        _print_full(full)
    if "mem" in parts:
        # Merged by size with earlier runs' points (peak RSS does not depend on load), so sizes can be added.
        measured = {r["docs"]: r for r in result.get("memory_curve", [])}
        measured.update({int(n): run_memory(int(n)) for n in a.mem_sizes.split(",")})
        mem = [measured[n] for n in sorted(measured)]
        fit = memory_fit(mem)
        result.update(memory_curve=mem, memory_fit=fit, memory_load=_load())
        _print_memory(mem, fit)
    out_path.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
