"""Speed benchmark: MinHash signatures and full near-dedup, ours vs datasketch and datatrove, same documents.

    .venv/bin/python -m benchmarks.dedup_speed [--docs 10000] [--sig-docs 2000] [--mem-docs 20000]

Signatures are timed in this process on one core (shingling included for everyone). Full near-dedup runs
each system in a fresh subprocess so its peak RSS (ru_maxrss) is its own: ours inline on one core
(LocalExecutor, no Ray), ours on Ray with 2 CPUs (time only: Ray workers are separate processes), and
datatrove's four MinHash stages with LocalPipelineExecutor (1 task). The memory curve runs ours inline at
two sizes. Writes benchmarks/out/dedup_speed.json.
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
        t0 = time.perf_counter()
        fn(sample)
        dt = time.perf_counter() - t0
        rows.append({"system": name, "docs": len(sample), "seconds": dt, "docs_per_s": len(sample) / dt})

    timed("winnow (xxh32, numpy batch)", lambda s: signatures(s, cfg), docs)

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
    # VmHWM (peak RSS of this process image); ru_maxrss would carry the parent's peak across exec.
    hwm = next(
        int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM")
    )
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": dt, "removed": removed, "peak_rss_mib": max(hwm, kids) / 1024}


def run_worker(kind: str, docs) -> dict:
    with tempfile.TemporaryDirectory() as work:
        src = Path(work) / "src"
        src.mkdir()
        jsonl = src / "docs.jsonl"
        _write_jsonl(docs, jsonl)
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.dedup_speed",
            "--worker",
            kind,
            "--jsonl",
            str(jsonl),
            "--work",
            work,
        ]
        out = subprocess.run(
            cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"{kind} failed:\n{out.stderr[-3000:]}")
        res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(system=kind, docs=len(docs), docs_per_s=len(docs) / res["seconds"])
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--sig-docs", type=int, default=2000)
    ap.add_argument("--mem-docs", type=int, default=20_000, help="memory curve at this size and 3x")
    ap.add_argument("--skip-datatrove-full", action="store_true")
    ap.add_argument("--worker")
    ap.add_argument("--jsonl")
    ap.add_argument("--work")
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.jsonl, a.work)))
        return
    from benchmarks.dedup_data import speed_docs

    docs = speed_docs(max(a.docs, a.sig_docs))
    avg = sum(len(t.encode()) for _, t in docs[: a.docs]) / a.docs
    sig = bench_signatures([t for _, t in docs[: a.sig_docs]])
    full = [run_worker("ours_local", docs[: a.docs]), run_worker("ours_ray2", docs[: a.docs])]
    if not a.skip_datatrove_full:
        full.append(run_worker("datatrove", docs[: a.docs]))
    mem = [run_worker("ours_local", speed_docs(n, seed=1)) for n in (a.mem_docs, 3 * a.mem_docs)]
    result = {
        "machine": _machine(),
        "avg_doc_bytes": avg,
        "signatures": sig,
        "full": full,
        "memory_curve": mem,
        "lsh": {"bands": BANDS, "rows": ROWS},
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "dedup_speed.json").write_text(json.dumps(result, indent=1))
    m = result["machine"]
    print(
        f"machine: {m['nproc']} CPUs, {m['memory_gib']} GiB, {m['date']}; avg doc {avg:.0f} B; "
        f"{BANDS}x{ROWS} LSH\n"
    )
    ref = sig[0]["docs_per_s"]
    print("| signatures (1 core) | docs | docs/s | winnow / this |\n|---|---:|---:|---:|")
    for r in sig:
        print(f"| {r['system']} | {r['docs']} | {r['docs_per_s']:.0f} | {ref / r['docs_per_s']:.2f}x |")
    base = full[0]["docs_per_s"]
    print(
        "\n| full near-dedup | docs | seconds | docs/s | peak RSS MiB | winnow 1-core / this |\n|---|---:|---:|---:|---:|---:|"
    )
    for r in full:
        rss = f"{r['peak_rss_mib']:.0f}" + (" (driver only)" if r["system"] == "ours_ray2" else "")
        print(
            f"| {r['system']} | {r['docs']} | {r['seconds']:.1f} | {r['docs_per_s']:.0f} | {rss} | "
            f"{base / r['docs_per_s']:.2f}x |"
        )
    print("\n| memory curve (ours, inline) | docs | peak RSS MiB | MiB per 1k docs |\n|---|---:|---:|---:|")
    for r in mem:
        print(
            f"| ours_local | {r['docs']} | {r['peak_rss_mib']:.0f} | {1000 * r['peak_rss_mib'] / r['docs']:.1f} |"
        )


if __name__ == "__main__":
    main()
