"""Server throughput and p99 latency with 32 concurrent streaming clients, filter on vs off.

    .venv/bin/python -m benchmarks.serve_load [--requests 256] [--concurrency 32] [--pieces 256]

Three processes on 127.0.0.1: a scripted fake upstream (server.testing.FakeUpstream; every answer is
``--pieces`` 4-character pieces of real TinyStories text, no delay), and ``winnow serve`` proxying to it
twice: once with the shipped policy (prompt check + StreamGuard), once with the filter disabled (same
server code, ``filter_enabled=false``). The load generator (asyncio + httpx) sends a fixed number of
streaming chat requests with a fixed concurrency and stops by itself; rounds alternate off/on to spread
the machine's background load. Ratio = filtered / unfiltered throughput; the filter's cost is 1 - ratio
(goal < 10%). Writes benchmarks/results/serve_load.json (serve_load_delay<N>ms.json with --delay-ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.machine import (
    SHARED_DATA,
    machine_info,
    nonnegative_int,
    positive_int,
    shared_data_missing,
    write_results,
)

REPO = Path(__file__).resolve().parents[1]
DATA = SHARED_DATA
STORY = "clean_text/tinystories_head.txt"  # the fake upstream's answers


class LoadError(Exception):
    """A child process or a request failed: `main` prints it as one `error:` line."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _role_upstream(port: int, pieces: int, delay_ms: float) -> None:
    import uvicorn

    from server.testing import FakeUpstream

    text = (DATA / STORY).read_text(encoding="utf-8")

    def script(prompt: str) -> list[str]:
        start = (sum(map(ord, prompt)) * 7919) % (len(text) - pieces * 4)
        part = text[start : start + pieces * 4]
        return [part[i : i + 4] for i in range(0, len(part), 4)]

    uvicorn.run(
        FakeUpstream(script, delay_s=delay_ms / 1000).app, host="127.0.0.1", port=port, log_level="error"
    )


def _role_server(args: argparse.Namespace) -> None:
    """One server process: filtered, or not (`--no-filter`), with the filter's parts given by the flags."""
    import uvicorn

    from server.app import create_app
    from server.config import ServeConfig
    from server.transport import uvicorn_config

    cfg = ServeConfig(
        backend="upstream",
        upstream_url=args.upstream,
        policy=str(REPO / "configs" / "policy.yaml"),
        filter_enabled=not args.no_filter,
        port=args.port,
        scan_every=args.scan_every,
        prompt_checks=not args.no_prompt_checks,
        classify_lines=not args.no_line_classifiers,
    )
    app = create_app(cfg)  # served with the server's own settings (read deadlines, connection cap)
    uvicorn.Server(uvicorn_config(app, cfg, "127.0.0.1", args.port, "error")).run()


class Children:
    """The benchmark's child processes, each with its stderr in a log file of `folder` (a failed child
    is reported by its last line, not by its whole traceback or one log line per failed request)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, *args: str) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        with open(self.log(name), "wb") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.serve_load", *args], cwd=REPO, env=env, stderr=log
            )

    def log(self, name: str) -> Path:
        return self.folder / f"{name.replace(' ', '_')}.log"

    def last_line(self, name: str) -> str:
        lines = [x.strip() for x in self.log(name).read_text(errors="replace").splitlines() if x.strip()]
        return lines[-1] if lines else "no output"

    def check(self) -> None:
        """LoadError when a child has exited (they serve until terminated)."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise LoadError(f"the {name} exited with status {proc.returncode}: {self.last_line(name)}")

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait(url: str, children: Children, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children.check()
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise LoadError(f"{url} did not come up in {timeout:.0f} s")


async def _one(client: httpx.AsyncClient, url: str, i: int) -> tuple[float, float, int, str]:
    body = {
        "model": "m",
        "stream": True,
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": f"story {i}"}],
    }
    t0 = time.perf_counter()
    ttft, chars, finish = None, 0, ""
    async with client.stream("POST", url, json=body) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if "error" in event:  # e.g. the server could not reach the upstream
                raise LoadError(f"{url} answered request {i} with an error event: {line[6:][:300]}")
            if not event.get("choices"):  # a usage-only event
                continue
            ch = event["choices"][0]
            piece = ch["delta"].get("content") or ""
            if piece and ttft is None:
                ttft = time.perf_counter() - t0
            chars += len(piece)
            finish = ch.get("finish_reason") or finish
    return time.perf_counter() - t0, ttft or 0.0, chars, finish


async def _load(base: str, requests: int, concurrency: int) -> dict:
    url = base + "/v1/chat/completions"
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def run(i: int):
            async with sem:
                return await _one(client, url, i)

        t0 = time.perf_counter()
        res = await asyncio.gather(*(run(i) for i in range(requests)))
        wall = time.perf_counter() - t0
    lat = sorted(r[0] for r in res)
    return {
        "requests": requests,
        "wall_s": wall,
        "req_per_s": requests / wall,
        "chars_per_s": sum(r[2] for r in res) / wall,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))] * 1000,
        "ttft_p50_ms": statistics.median(r[1] for r in res) * 1000,
        "finish": {f: sum(1 for r in res if r[3] == f) for f in {r[3] for r in res}},
    }


def _delay(text: str) -> float:
    """argparse type: milliseconds, 0 or more."""
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of milliseconds, 0 or more, got {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["main", "upstream", "server"], default="main")
    ap.add_argument("--port", type=int)
    ap.add_argument("--upstream")
    ap.add_argument("--no-filter", action="store_true")
    ap.add_argument(
        "--scan-every", type=nonnegative_int, default=0, help="the filtered server's StreamGuard scan_every"
    )
    ap.add_argument(
        "--no-prompt-checks", action="store_true", help="the filtered server checks answers only (cost split)"
    )
    ap.add_argument(
        "--no-line-classifiers", action="store_true", help="StreamGuard classify_lines=False (cost split)"
    )
    ap.add_argument("--requests", type=positive_int, default=256)
    ap.add_argument("--concurrency", type=positive_int, default=32)
    ap.add_argument("--pieces", type=positive_int, default=256, help="pieces (~tokens) per answer")
    ap.add_argument("--rounds", type=positive_int, default=2)
    ap.add_argument(
        "--delay-ms", type=_delay, default=0.0, help="upstream delay per piece (model decode time)"
    )
    args = ap.parse_args(argv)
    if args.role == "upstream":
        return _role_upstream(args.port, args.pieces, args.delay_ms)
    if args.role == "server":
        return _role_server(args)
    if shared_data_missing(DATA, STORY):
        sys.exit(2)

    up, on, off = _free_port(), _free_port(), _free_port()
    up_url = f"http://127.0.0.1:{up}/v1"
    on_flags = [
        "--scan-every",
        str(args.scan_every),
        *(["--no-prompt-checks"] if args.no_prompt_checks else []),
        *(["--no-line-classifiers"] if args.no_line_classifiers else []),
    ]
    failure = None
    with tempfile.TemporaryDirectory(prefix="serve_load-") as logs:
        children = Children(Path(logs))
        try:
            children.spawn(
                "fake upstream",
                *("--role", "upstream", "--port", str(up), "--pieces", str(args.pieces)),
                *("--delay-ms", str(args.delay_ms)),
            )
            children.spawn(
                "filtered server", "--role", "server", "--port", str(on), "--upstream", up_url, *on_flags
            )
            children.spawn(
                "unfiltered server",
                "--role",
                "server",
                "--port",
                str(off),
                "--upstream",
                up_url,
                "--no-filter",
            )
            _wait(f"{up_url}/chat/completions", children)  # a GET answers 405 once it serves
            for p in (on, off):
                _wait(f"http://127.0.0.1:{p}/healthz", children)
            asyncio.run(_load(f"http://127.0.0.1:{on}", 32, args.concurrency))  # warm-up both
            asyncio.run(_load(f"http://127.0.0.1:{off}", 32, args.concurrency))
            runs: dict[str, list[dict]] = {"off": [], "on": []}
            for _ in range(args.rounds):
                for name, port in (("off", off), ("on", on)):
                    runs[name].append(
                        asyncio.run(_load(f"http://127.0.0.1:{port}", args.requests, args.concurrency))
                    )
        except (LoadError, httpx.HTTPError) as e:
            failure = str(e) if isinstance(e, LoadError) else f"a request failed: {type(e).__name__}: {e}"
            try:
                children.check()  # a child that died explains the failed request better
            except LoadError as dead:
                failure = failure if str(dead) in failure else f"{failure} ({dead})"
        finally:
            children.stop()
    if failure is not None:
        print(f"error: {' '.join(failure.split())}", file=sys.stderr)
        sys.exit(1)

    def agg(rs: list[dict]) -> dict:
        return {
            k: statistics.fmean(r[k] for r in rs)
            for k in ("req_per_s", "chars_per_s", "p50_ms", "p99_ms", "ttft_p50_ms")
        } | {"finish": rs[-1]["finish"]}

    m = machine_info("httpx", "uvicorn", "fastapi")
    res = {
        "params": {
            "requests": args.requests,
            "concurrency": args.concurrency,
            "pieces": args.pieces,
            "rounds": args.rounds,
            "delay_ms": args.delay_ms,
            "scan_every": args.scan_every,
            "prompt_checks": not args.no_prompt_checks,
            "classify_lines": not args.no_line_classifiers,
        },
        "off": agg(runs["off"]),
        "on": agg(runs["on"]),
        "runs": runs,
    }
    off_r, on_r = res["off"], res["on"]
    res["throughput_ratio"] = on_r["req_per_s"] / off_r["req_per_s"]
    print(
        f"# serve load ({m['date']}, {m['nproc']} cpus, {m['memory_gib']} GB, load {m['load_average']}); "
        f"{args.requests} streaming requests x {args.rounds} rounds, {args.concurrency} concurrent, "
        f"{args.pieces} pieces each; StreamGuard scan_every {args.scan_every}"
    )
    print("\n| server | req/s | chars/s | p50 ms | p99 ms | TTFT p50 ms |\n|---|---|---|---|---|---|")
    for name, r in (("filter off", off_r), ("filter on (shipped policy)", on_r)):
        print(
            f"| {name} | {r['req_per_s']:.1f} | {r['chars_per_s']:.0f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
            f"{r['ttft_p50_ms']:.0f} |"
        )
    print(
        f"| ratio on/off | {res['throughput_ratio']:.3f} | {on_r['chars_per_s'] / off_r['chars_per_s']:.3f} | "
        f"{on_r['p50_ms'] / off_r['p50_ms']:.2f} | {on_r['p99_ms'] / off_r['p99_ms']:.2f} | "
        f"{on_r['ttft_p50_ms'] / max(off_r['ttft_p50_ms'], 1e-9):.2f} |"
    )
    print(
        f"\nfilter cost: {100 * (1 - res['throughput_ratio']):.1f}% of throughput (goal < 10%); "
        f"finish reasons (filter on): {on_r['finish']}"
    )
    method = (
        f"{args.requests} streaming requests per round, {args.concurrency} concurrent, {args.rounds} rounds "
        "alternating filter off / on after one warm-up of 32 requests per server; req/s and chars/s over each "
        "round's wall time, p50/p99/TTFT within each round, each figure the mean over rounds ('runs' holds "
        "every round); loopback, scripted fake upstream (delay_ms per piece), upstream, both servers and the "
        "load generator share the cores given to the command"
    )
    name = "serve_load" if not args.delay_ms else f"serve_load_delay{args.delay_ms:g}ms"
    name += f"_scan{args.scan_every}" if args.scan_every else ""
    name += "_no_prompt_checks" if args.no_prompt_checks else ""
    name += "_no_line_classifiers" if args.no_line_classifiers else ""
    write_results(name, res, method=method, machine=m)


if __name__ == "__main__":
    main()
