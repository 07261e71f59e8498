"""Tokenize throughput: winnow's stage end to end vs raw ``tokenizers.encode_batch`` vs datatrove.

    taskset -c 1 .venv/bin/python -m benchmarks.tokenize_speed --cores 1 [--mb 16] [--repeat 3] [--tag T]
    taskset -c 0,1 .venv/bin/python -m benchmarks.tokenize_speed --cores 2 ...   [--mem-mb 8,32,128]

Each method runs in its own long-lived subprocess pinned to the first N CPUs it is allowed (CPU affinity,
``RAYON_NUM_THREADS``), on the same ~4 KB documents cut from ../shared/data/clean_text and the same
tokenizer file:

* ``encode_batch`` / ``encode_batch_fast``: the reference, texts already in memory, batches of 1,000;
* ``winnow``: ``tokenize_to_dir`` (read Parquet, encode on Ray, pack, shuffle, write Arrow shards),
  Ray started once (as in the pipeline, start-up not timed);
* ``datatrove``: ``ParquetReader`` -> ``DocumentTokenizer`` on ``LocalPipelineExecutor`` with N workers.

Equally warm, interleaved (issue 14): every method first does one untimed pass over the whole corpus,
then the timed passes go round-robin (raw, winnow, datatrove, raw, ...) for ``--repeat`` rounds and the
MEDIAN per method is reported. Then peak memory of the winnow stage (driver and largest Ray worker) at
several corpus sizes (one cold pass each). Figures go to stdout as markdown and to
benchmarks/results/tokenize_speed[-TAG].json (benchmarks.machine.write_results).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

from benchmarks.child import Child
from benchmarks.machine import (
    SHARED_DATA,
    known_names,
    number_list,
    positive_float,
    positive_int,
    shared_data_missing,
    usage_error,
    write_results,
)

REPO = Path(__file__).resolve().parents[1]
DATA = SHARED_DATA / "clean_text"
OUT = REPO / "benchmarks" / "out"
WORK = OUT / "tokenize_speed_work"
N_FILES = 8
TABLES = ("speed", "memory")
DOC_CHARS = 4096
# Small shards so both memory-table corpora span several: the driver's peak is about one shard.
SHARD_MB = 4
MEM_DOCS_PER_TASK = 500


# ---------------------------------------------------------------- corpus and tokenizer


def _source_files() -> list[Path]:
    return sorted(DATA.glob("*.txt")) + sorted((DATA / "gutenberg").glob("*.txt"))


def _source_texts() -> list[str]:
    files = _source_files()
    if not files:
        print(
            f"error: no .txt files under {DATA}: the shared data folder is incomplete; point "
            "WINNOW_SHARED_DATA at a complete one",
            file=sys.stderr,
        )
        sys.exit(2)
    return [f.read_text(encoding="utf-8-sig") for f in files]


def _cut_docs(texts: list[str]) -> list[str]:
    """~4 KB documents cut at whitespace from the real texts."""
    docs = []
    for text in texts:
        a = 0
        while a < len(text):
            b = min(len(text), a + DOC_CHARS)
            if b < len(text):
                space = text.rfind(" ", a + DOC_CHARS // 2, b)
                b = space if space > 0 else b
            if text[a:b].strip():
                docs.append(text[a:b])
            a = b
    return docs


def build_corpus(mb: float) -> Path:
    """``mb`` MiB of documents (the clean_text cut repeated with distinct ids) in 8 Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = WORK / f"corpus-{mb:g}mb"
    if (folder / "_SUCCESS").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    base = _cut_docs(_source_texts())
    target = int(mb * 2**20)
    docs, ids, size, rep = [], [], 0, 0
    while size < target:
        for i, d in enumerate(base):
            docs.append(d)
            ids.append(hashlib.sha1(f"clean_text:{rep}:{i}".encode()).hexdigest())
            size += len(d.encode("utf-8"))
            if size >= target:
                break
        rep += 1
    per = -(-len(docs) // N_FILES)
    for k in range(N_FILES):
        part = slice(k * per, (k + 1) * per)
        table = pa.table({"id": ids[part], "text": docs[part], "source": ["clean_text"] * len(ids[part])})
        pq.write_table(table, folder / f"part-{k:05d}.parquet", compression="zstd", row_group_size=1000)
    (folder / "_SUCCESS").write_text("")
    return folder


def build_tokenizer(vocab_size: int) -> Path:
    """A byte-level BPE trained by winnow on the clean_text cut (shared by all three methods)."""
    from tokenization import TokenizeConfig, train_tokenizer

    path = WORK / f"tokenizer-{vocab_size}.json"
    if not path.exists():
        cfg = TokenizeConfig.model_validate({"tokenizer": {"vocab_size": vocab_size}})
        train_tokenizer(iter(_cut_docs(_source_texts())), cfg).save(str(path))
    return path


def _parquet_files(corpus: Path) -> list[str]:
    return sorted(str(p) for p in corpus.glob("*.parquet"))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _descendants() -> list[int]:
    """Live descendants of this process (Ray's raylet/GCS/workers, a process pool's workers)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    me, out = os.getpid(), []
    for pid in parents:
        p, seen = pid, 0
        while p in parents and p != me and seen < 64:
            p, seen = parents[p], seen + 1
        if p == me and pid != me:
            out.append(pid)
    return out


def _proc_cpu(pids: list[int]) -> dict[int, float]:
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return out


class CpuMeter:
    """CPU time (user + system) of this process and all its descendants over a block, sampled every
    50 ms so short-lived workers (a process pool's) are counted too: the contention-proof cost of a
    run on a shared machine."""

    def __enter__(self) -> CpuMeter:
        self._start = _proc_cpu([os.getpid(), *_descendants()])
        self._last = dict(self._start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        self._last.update(_proc_cpu([os.getpid(), *_descendants()]))

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            self._sample()
        self._own = time.thread_time()  # the meter's own cost, subtracted below

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        total = sum(v - self._start.get(pid, 0.0) for pid, v in self._last.items())
        self.seconds = total - self._own


def _descendant_hwm_mb(prefix: str) -> float:
    """Largest peak RSS (VmHWM) among this process's descendants whose command starts with ``prefix``."""
    best = 0.0
    for pid in _descendants():
        try:
            cmd = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")[0].decode()
            if not cmd.startswith(prefix):
                continue
            for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return best


# ---------------------------------------------------------------- measurements (run in subprocesses)
#
# Each method lives in its own long-lived subprocess (a "session"): the parent tells every session to do one
# untimed warm-up pass over the corpus, then asks them in turn for one timed pass per round, so the methods
# are equally warm and their timed passes are interleaved (round-robin) on the same pinned cores.


class RawSession:
    """`encode_batch` and `encode_batch_fast` over texts already in memory, batches of 1,000."""

    names = ("encode_batch", "encode_batch_fast")

    def __init__(self, corpus: Path, tokenizer: Path, _cores: int) -> None:
        import pyarrow.parquet as pq
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(tokenizer))
        self.texts = [
            t
            for f in _parquet_files(corpus)
            for t in pq.read_table(f, columns=["text"]).column(0).to_pylist()
        ]

    def _pass(self, name: str) -> dict:
        fn = getattr(self.tok, name)
        t0 = time.perf_counter()
        with CpuMeter() as cpu:
            n = 0
            for a in range(0, len(self.texts), 1000):
                n += sum(len(e.ids) for e in fn(self.texts[a : a + 1000], add_special_tokens=False))
        # + one EOS per document, as the others add
        return {
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": cpu.seconds,
            "tokens": n + len(self.texts),
        }

    def run(self) -> dict:
        out = {name: self._pass(name) for name in self.names}
        out["documents"] = len(self.texts)
        out["text_bytes"] = sum(len(t.encode("utf-8")) for t in self.texts)
        return out


class WinnowSession:
    """`tokenize_to_dir` end to end (read Parquet, encode on Ray, pack, write shards); Ray started once,
    as in the pipeline (start-up not timed)."""

    def __init__(self, corpus: Path, tokenizer: Path, cores: int) -> None:
        import ray

        from kit.ray_local import start_local_ray
        from tokenization import TokenizeConfig

        start_local_ray(cores, log_to_driver=False)  # loopback only, token auth on, as every start
        ray.data.DataContext.get_current().enable_progress_bars = False
        cfg = TokenizeConfig.model_validate(
            {
                "seq_len": 2048,
                "val_fraction": 0.01,
                "seed": 0,
                "shard_mb": float(os.environ.get("BENCH_SHARD_MB", 64)),
                "tokenizer": {"path": str(tokenizer)},
            }
        )
        if os.environ.get("BENCH_DOCS_PER_TASK"):
            cfg = cfg.model_copy(update={"docs_per_task": int(os.environ["BENCH_DOCS_PER_TASK"])})
        self.cfg, self.corpus = cfg, corpus
        self.out_dir = WORK / f"winnow-out-{os.getpid()}"
        self.rss_before = _peak_rss_mb()

    def run(self) -> dict:
        from tokenization import tokenize_to_dir

        t0 = time.perf_counter()
        with CpuMeter() as meter:
            stats = tokenize_to_dir(_parquet_files(self.corpus), str(self.out_dir), self.cfg, overwrite=True)
        seconds = time.perf_counter() - t0
        shutil.rmtree(self.out_dir, ignore_errors=True)
        return {
            "seconds": seconds,
            "cpu_seconds": meter.seconds,
            "tokens": sum(s.tokens + s.dropped_tokens - s.pad_tokens for s in stats.splits.values()),
            "timings": stats.timings,
            "driver_phase_peak_rss_mb": stats.peak_rss_mb,
            "driver_peak_rss_mb": _peak_rss_mb(),
            "driver_peak_rss_before_mb": self.rss_before,
            "worker_peak_rss_mb": _descendant_hwm_mb("ray::"),
            "text_bytes": stats.text_bytes,
        }


class DatatroveSession:
    """datatrove's ParquetReader -> DocumentTokenizer on LocalPipelineExecutor with N workers (its defaults
    apart from the tokenizer file, the EOS token and batch_size=1000, the same batch as the others)."""

    def __init__(self, corpus: Path, tokenizer: Path, cores: int) -> None:
        self.corpus, self.tokenizer, self.cores = corpus, tokenizer, cores
        self.out_dir = WORK / f"datatrove-out-{os.getpid()}"

    def run(self) -> dict:
        from datatrove.executor import LocalPipelineExecutor
        from datatrove.pipeline.readers import ParquetReader
        from datatrove.pipeline.tokens import DocumentTokenizer

        shutil.rmtree(self.out_dir, ignore_errors=True)
        executor = LocalPipelineExecutor(
            pipeline=[
                ParquetReader(str(self.corpus), glob_pattern="*.parquet", text_key="text", id_key="id"),
                DocumentTokenizer(
                    str(self.out_dir / "tokens"),
                    tokenizer_name_or_path=str(self.tokenizer),
                    eos_token="<|eos|>",
                    batch_size=1000,
                ),
            ],
            tasks=N_FILES,
            workers=self.cores,
            logging_dir=str(self.out_dir / "logs"),
            skip_completed=False,
        )
        t0 = time.perf_counter()
        with CpuMeter() as meter:
            executor.run()
        seconds = time.perf_counter() - t0
        shutil.rmtree(self.out_dir, ignore_errors=True)
        return {"seconds": seconds, "cpu_seconds": meter.seconds}


ROLES = {"raw": RawSession, "winnow": WinnowSession, "datatrove": DatatroveSession}


def serve(role: str, corpus: Path, tokenizer: Path, cores: int) -> None:
    """Child: build the session, then answer each stdin line ("run") with one pass as a JSON line."""
    session = ROLES[role](corpus, tokenizer, cores)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        print(json.dumps(session.run()), flush=True)


def start_child(
    role: str,
    corpus: Path,
    tokenizer: Path,
    cores: int,
    docs_per_task: int | None = None,
    shard_mb: float | None = None,
) -> Child:
    """A session subprocess; `ask()` runs one pass in it and returns its JSON."""
    env = dict(os.environ)
    if docs_per_task:
        env["BENCH_DOCS_PER_TASK"] = str(docs_per_task)
    if shard_mb:
        env["BENCH_SHARD_MB"] = str(shard_mb)
    # Raw/winnow-driver threads = cores; datatrove's N worker processes each get one thread.
    env["RAYON_NUM_THREADS"] = "1" if role == "datatrove" else str(cores)
    env["TOKENIZERS_PARALLELISM"] = "false" if role == "datatrove" else "true"
    env.setdefault("OMP_NUM_THREADS", "1")
    env["RAY_DEDUP_LOGS"] = "0"
    cmd = [sys.executable, "-m", "benchmarks.tokenize_speed", "--role", role, "--corpus", str(corpus)]
    cmd += ["--tokenizer", str(tokenizer), "--ncores", str(cores)]
    return Child(f"{role} with {cores} core(s)", cmd, env, REPO, close_timeout_s=120)


def _median(runs: list[dict]) -> dict:
    """Median wall and CPU time over the timed rounds (each from its own round)."""
    out = dict(runs[-1])
    out["seconds"] = statistics.median(r["seconds"] for r in runs)
    out["cpu_seconds"] = statistics.median(r["cpu_seconds"] for r in runs)
    out["seconds_all"] = [round(r["seconds"], 3) for r in runs]
    out["cpu_seconds_all"] = [round(r["cpu_seconds"], 3) for r in runs]
    out["repeats"] = len(runs)
    return out


def measure_speed(corpus: Path, tokenizer: Path, cores: int, repeat: int) -> dict[str, dict]:
    """One warm-up pass per method, then `repeat` round-robin rounds; medians per method."""
    children = {role: start_child(role, corpus, tokenizer, cores) for role in ROLES}
    try:
        for child in children.values():
            child.ask()  # untimed warm-up pass, the same for every method
        runs: dict[str, list[dict]] = {name: [] for name in (*RawSession.names, "winnow", "datatrove")}
        for _ in range(repeat):
            for role, child in children.items():
                res = child.ask()
                if role == "raw":
                    for name in RawSession.names:
                        runs[name].append(res[name])
                else:
                    runs[role].append(res)
    finally:
        for child in children.values():
            child.close()
    return {name: _median(rs) for name, rs in runs.items()}


# ---------------------------------------------------------------- report


def _machine() -> dict:
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    from importlib.metadata import version

    import datatrove  # noqa: F401
    import pyarrow
    import ray
    import tokenizers

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kb / 2**20, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": {
            "tokenizers": tokenizers.__version__,
            "ray": ray.__version__,
            "pyarrow": pyarrow.__version__,
            "datatrove": version("datatrove"),
        },
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--mb", type=positive_float, default=16, help="corpus size for the speed table (MiB of text)"
    )
    ap.add_argument("--cores", default="1,2", help="core counts to compare")
    ap.add_argument("--mem-mb", default="8,32,128", help="corpus sizes for the peak-memory table")
    ap.add_argument("--tag", default="", help="suffix of the JSON file name (runs per core count)")
    ap.add_argument("--vocab", type=positive_int, default=32000)
    ap.add_argument("--repeat", type=int, default=3, help="timed round-robin rounds; the median is kept")
    ap.add_argument(
        "--tables", default=",".join(TABLES), help=f"which tables to produce: any of {','.join(TABLES)}"
    )
    ap.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--tokenizer", help=argparse.SUPPRESS)
    ap.add_argument("--ncores", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.role:  # child: pin, then serve passes
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.ncores])
        serve(args.role, Path(args.corpus), Path(args.tokenizer), args.ncores)
        return
    # Every argument is checked here, before the tokenizer and the corpora are built.
    if args.repeat < 1:
        usage_error("--repeat must be >= 1")
    cores = number_list("--cores", args.cores, int, "core counts")
    available = len(os.sched_getaffinity(0))
    if max(cores) > available:
        usage_error(
            f"--cores {args.cores}: asked for {max(cores)} cores, {available} available; pass at most {available}"
        )
    mem_mbs = number_list("--mem-mb", args.mem_mb, float, "sizes in MiB")
    tables = set(known_names("--tables", args.tables, TABLES))
    if shared_data_missing(DATA.parent, DATA.name):
        sys.exit(2)
    if not _source_files():
        _source_texts()  # its error line, exit 2

    OUT.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    machine = _machine()
    tokenizer = build_tokenizer(args.vocab)
    corpus = build_corpus(args.mb)

    speed = []
    for n in cores if "speed" in tables else []:
        load = os.getloadavg()[0]
        med = measure_speed(corpus, tokenizer, n, args.repeat)
        raw = {name: med[name] for name in RawSession.names}
        win, dtv = med["winnow"], med["datatrove"]
        tokens = raw["encode_batch"]["tokens"]
        if win["tokens"] != tokens:
            sys.exit(f"token counts differ: winnow {win['tokens']} vs encode_batch {tokens}")
        rows = {
            "encode_batch (raw, in memory)": raw["encode_batch"],
            "encode_batch_fast (raw, in memory)": raw["encode_batch_fast"],
            "winnow tokenize_to_dir (end to end)": win,
            "datatrove DocumentTokenizer": dtv,
        }
        ref_cpu, ref_wall = raw["encode_batch"]["cpu_seconds"], raw["encode_batch"]["seconds"]
        for method, r in rows.items():
            speed.append(
                {
                    "method": method,
                    "cores": n,
                    "seconds": r["seconds"],
                    "cpu_seconds": r["cpu_seconds"],
                    "tokens": tokens,
                    "tokens_per_s_per_core": tokens / r["seconds"] / n,
                    "tokens_per_cpu_s": tokens / r["cpu_seconds"],
                    "vs_encode_batch_cpu": ref_cpu / r["cpu_seconds"],
                    "vs_datatrove_cpu": dtv["cpu_seconds"] / r["cpu_seconds"],
                    "vs_encode_batch_wall": ref_wall / r["seconds"],
                    "vs_datatrove_wall": dtv["seconds"] / r["seconds"],
                    "load_1min_before": load,
                    "load_1min_after": os.getloadavg()[0],
                }
            )
        speed[-2]["winnow_timings"] = win["timings"]

    memory = []
    for mb in mem_mbs if "memory" in tables else []:
        c = build_corpus(mb)
        # Same task size for both corpora, so the table isolates the corpus size.
        child = start_child(
            "winnow", c, tokenizer, max(cores), docs_per_task=MEM_DOCS_PER_TASK, shard_mb=SHARD_MB
        )
        try:
            win = child.ask()
        finally:
            child.close()
        memory.append(
            {
                "corpus_mb": mb,
                "tokens": win["tokens"],
                "seconds": win["seconds"],
                "driver_peak_rss_mb": win["driver_peak_rss_mb"],
                "driver_peak_rss_before_mb": win["driver_peak_rss_before_mb"],
                "worker_peak_rss_mb": win["worker_peak_rss_mb"],
                "driver_phase_peak_rss_mb": win["driver_phase_peak_rss_mb"],
                "load": os.getloadavg(),
            }
        )

    result = {
        "corpus_mb": args.mb,
        "repeat": args.repeat,
        "vocab_size": args.vocab,
        "doc_chars": DOC_CHARS,
        "shard_mb": SHARD_MB,
        "speed": speed,
        "memory": memory,
    }
    method = (
        "each method in its own long-lived subprocess pinned to the first N allowed CPUs; one untimed "
        f"warm-up pass over the whole corpus per method, then {args.repeat} round-robin timed rounds, median "
        "per method; CPU seconds count the whole process tree (Ray included); memory: one cold pass per "
        "corpus size, peak RSS (VmHWM) of the driver and of the largest Ray worker"
    )
    name = f"tokenize_speed{'-' + args.tag if args.tag else ''}"
    write_results(name, result, method=method, machine=machine)

    print(
        f"# tokenize speed — {machine['date']}, nproc={machine['nproc']}, {machine['memory_gib']} GiB, "
        f"{args.mb:g} MiB of ~4 KB clean_text docs, byte-level BPE vocab {args.vocab}; median of "
        f"{args.repeat} round-robin rounds after one untimed warm-up pass per method\n"
    )
    print(
        "| method | cores | load (1 min, before → after) | wall s | tokens/s per core (wall) | CPU s "
        "| tokens per CPU-s | vs encode_batch (CPU / wall) | vs datatrove (CPU / wall) |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in speed:
        print(
            f"| {r['method']} | {r['cores']} | {r['load_1min_before']:.1f} → {r['load_1min_after']:.1f} "
            f"| {r['seconds']:.2f} | {r['tokens_per_s_per_core']:,.0f} | "
            f"{r['cpu_seconds']:.2f} | {r['tokens_per_cpu_s']:,.0f} | "
            f"{r['vs_encode_batch_cpu']:.2f}× / {r['vs_encode_batch_wall']:.2f}× | "
            f"{r['vs_datatrove_cpu']:.2f}× / {r['vs_datatrove_wall']:.2f}× |"
        )
    print(
        f"\n## winnow peak memory ({max(cores)} cores, {MEM_DOCS_PER_TASK} documents per task, "
        f"shard_mb {SHARD_MB})\n"
    )
    print(
        "| corpus MiB | tokens | seconds | driver peak RSS MiB (before run) | driver peak after "
        "plan / tokenizer / encode / pack | largest Ray worker peak RSS MiB | load (1 min) |"
    )
    print("|---:|---:|---:|---:|---|---:|---:|")
    for m in memory:
        ph = m["driver_phase_peak_rss_mb"]
        phases = " / ".join(f"{ph[k]:.0f}" for k in ("plan", "tokenizer", "encode", "pack") if k in ph)
        print(
            f"| {m['corpus_mb']:g} | {m['tokens']:,} | {m['seconds']:.2f} | {m['driver_peak_rss_mb']:.0f} "
            f"({m['driver_peak_rss_before_mb']:.0f}) | {phases} | {m['worker_peak_rss_mb']:.0f} | "
            f"{m['load'][0]:.1f} |"
        )


if __name__ == "__main__":
    main()
