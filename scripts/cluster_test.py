"""`make cluster-test`: the default pipeline as a Ray job on a 3-node cluster must equal a local run, byte for byte.

Starts a head (0 CPUs: it hosts the job server and the job's driver) and two 1-CPU worker nodes on
this machine, each a separate `ray start --block` process in its own process group, submits
`winnow run configs/default.yaml` with `ray job submit --working-dir`, runs the same config locally
(no address) into another directory, and compares every output file.

Isolation from other Ray users of this machine: a private RAY_TMPDIR (so the cluster's
`ray_current_cluster` file and sessions live there), free ports picked at start, everything bound to
127.0.0.1, and a fresh token for Ray's token authentication (RAY_AUTH_MODE=token with
RAY_AUTH_TOKEN_PATH; ~/.ray/auth_token is not touched). It never calls `ray stop` (which kills every
Ray process on the machine): it ends the process groups it started, on success, failure or signal.

    .venv/bin/python scripts/cluster_test.py [--keep] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = "configs/default.yaml"
WORKERS = 2


# ----------------------------------------------------------------------------- outputs


def output_files(run_dir: str | Path) -> dict[str, bytes]:
    """Every output a run promises to make deterministic: documents, removals, quarantine, clusters, tokens.

    Hidden files (temporaries a killed writer may leave) are not outputs. The manifest names the run
    directory it came from, so that one key is dropped before comparing.
    """
    root = Path(run_dir)
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        key = rel.as_posix()
        if p.suffix in (".parquet", ".arrow") or key == "tokens/tokenizer.json":
            out[key] = p.read_bytes()
        elif key == "tokens/manifest.json":
            manifest = json.loads(p.read_text())
            manifest.pop("source_run", None)
            out[key] = json.dumps(manifest, sort_keys=True).encode()
    return out


def diff_outputs(got: dict[str, bytes], want: dict[str, bytes]) -> list[str]:
    """Human-readable differences (missing, extra, differing files); empty when identical."""
    problems = [f"missing: {k}" for k in sorted(want.keys() - got.keys())]
    problems += [f"extra: {k}" for k in sorted(got.keys() - want.keys())]
    problems += [f"differs: {k}" for k in sorted(want.keys() & got.keys()) if got[k] != want[k]]
    return problems


# ----------------------------------------------------------------------------- processes


def free_ports(n: int) -> list[int]:
    """`n` distinct ports free on 127.0.0.1 right now (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Cluster:
    """A head and worker nodes as `ray start --block` processes, each the leader of its own group."""

    def __init__(self, work: Path, env: dict[str, str]):
        self.work = work
        self.env = env
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.gcs_port, self.dashboard_port = free_ports(2)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _node_flags(self) -> list[str]:
        node, obj, agent, agent_grpc, rt_env, metrics = free_ports(6)
        return [
            "--node-ip-address=127.0.0.1",
            f"--node-manager-port={node}",
            f"--object-manager-port={obj}",
            f"--dashboard-agent-listen-port={agent}",
            f"--dashboard-agent-grpc-port={agent_grpc}",
            f"--runtime-env-agent-port={rt_env}",
            f"--metrics-export-port={metrics}",
            "--min-worker-port=0",
            "--max-worker-port=0",
            f"--object-store-memory={256 * 1024 * 1024}",
            "--disable-usage-stats",
            "--block",
        ]

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.work / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the node
        cmd = [str(Path(sys.executable).parent / "ray"), "start", *args, *self._node_flags()]
        proc = subprocess.Popen(
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append((name, proc))
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in (self.work / f"{name}.log").read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.work / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"`ray start` for {name} did not come up:\n{tail}")
            time.sleep(0.2)

    def start(self, workers: int) -> None:
        self._start(
            "head",
            [
                "--head",
                f"--port={self.gcs_port}",
                "--num-cpus=0",  # the head only hosts the job server and the driver; workers do the work
                "--include-dashboard=true",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}",
            ],
        )
        # Each worker keeps its own temp dir: nodes on one machine that share a session directory
        # share its runtime_resources/, and one node's agent re-creating or dropping the job's
        # working_dir there removed files the driver on the head was importing (a flaky
        # ModuleNotFoundError); separate machines never share it.
        for i in range(workers):
            temp = self.work / f"w{i + 1}"
            temp.mkdir(exist_ok=True)
            self._start(f"worker{i + 1}", [f"--address={self.address}", "--num-cpus=1", f"--temp-dir={temp}"])

    def stop(self) -> None:
        """SIGTERM each `ray start --block` (it shuts its node down), then SIGKILL whatever is left of its group."""
        for _, proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, proc in reversed(self.procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for _, proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()


def ray_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    ray = str(Path(sys.executable).parent / "ray")
    return subprocess.run([ray, *args], env=env, capture_output=True, text=True, timeout=timeout)


def wait_for_cpus(cluster: Cluster, env: dict[str, str], cpus: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = ray_cli("status", f"--address={cluster.address}", env=env)
        if f"/{float(cpus)} CPU" in status.stdout:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"cluster did not reach {cpus} CPUs:\n{status.stdout[-2000:]}{status.stderr[-2000:]}"
            )
        time.sleep(1)


# Ray's job server answers this (HTTP 500) while no dashboard agent has registered to run a job's supervisor yet; the
# job is not created, and the message asks to try again. `wait_for_cpus` does not cover it: the nodes' CPUs show
# before their agents answer (CI, 2026-12-07: the job "UNKNOWN" after one such answer, the local run fine).
NO_AGENT_YET = "No available agent to submit job"
SUBMIT_RETRY_S = 60.0


def submit_until_accepted(
    submit: Callable[[], subprocess.CompletedProcess], budget_s: float = SUBMIT_RETRY_S, pause_s: float = 2.0
) -> tuple[subprocess.CompletedProcess, int]:
    """Run `submit` again while Ray says no agent can take the job yet, for at most `budget_s` seconds; the last
    answer and the number of attempts. Any other answer, success or failure, is returned at once."""
    deadline = time.monotonic() + budget_s
    attempts = 0
    while True:
        attempts += 1
        done = submit()
        if NO_AGENT_YET not in done.stdout + done.stderr or time.monotonic() + pause_s > deadline:
            return done, attempts
        time.sleep(pause_s)


# ----------------------------------------------------------------------------- the test


def private_ray_env(token_dir: Path, ray_tmp: Path) -> dict[str, str]:
    """Environment for processes that start their own Ray: a private temp dir and their own token.

    Token authentication stays on; `~/.ray/auth_token` and any session Ray are left alone.
    """
    token = token_dir / "ray_auth_token"
    if not token.exists():
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env.update(
        RAY_TMPDIR=str(ray_tmp),
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token),
        OMP_NUM_THREADS="1",
        RAY_DEDUP_LOGS="0",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    return env


def base_env(work: Path) -> dict[str, str]:
    (work / "r").mkdir()
    return private_ray_env(work, work / "r")


def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="wcl-", dir="/tmp"))  # short: Ray's unix socket paths are limited
    env = base_env(work)
    cluster_run, local_run = work / "shared" / "cluster-run", work / "local-run"
    local_env = {**env, "RAY_TMPDIR": str(work / "l")}
    (work / "l").mkdir()
    winnow = str(Path(sys.executable).parent / "winnow")
    results: dict[str, object] = {}
    cluster = Cluster(work, env)
    local = None
    t0 = time.monotonic()
    try:
        # The local reference run goes alongside the cluster: most of either is waiting on Ray start-up.
        local_cmd = [winnow, "run", CONFIG, "--run-dir", str(local_run), "--no-report"]
        local = subprocess.Popen(
            local_cmd,
            cwd=REPO_ROOT,
            env=local_env,
            stdout=open(work / "local.log", "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        cluster.start(WORKERS)
        wait_for_cpus(cluster, env, WORKERS)
        results["cluster_up_s"] = round(time.monotonic() - t0, 1)
        print(f"cluster up: head {cluster.address}, dashboard {cluster.dashboard}, {WORKERS} x 1-CPU workers")

        submission = f"winnow-cluster-test-{secrets.token_hex(4)}"
        entry = ["winnow", "run", CONFIG, "--run-dir", str(cluster_run), "--no-report"]
        t_job = time.monotonic()
        submit, results["submit_attempts"] = submit_until_accepted(
            lambda: ray_cli(
                "job",
                "submit",
                f"--address={cluster.dashboard}",
                f"--submission-id={submission}",
                f"--working-dir={REPO_ROOT}",
                "--",
                *entry,
                env=env,
                timeout=args.timeout,
            )
        )
        results["job_s"] = round(time.monotonic() - t_job, 1)
        (work / "job.log").write_text(submit.stdout + submit.stderr)
        status = ray_cli("job", "status", f"--address={cluster.dashboard}", submission, env=env)
        results["job_status"] = job_status(status.stdout + status.stderr, submission)
        print(f"job {submission}: {results['job_status']} in {results['job_s']}s")

        local.wait(timeout=args.timeout)
        results["local_rc"] = local.returncode
        results["total_s"] = round(time.monotonic() - t0, 1)
    except (Exception, KeyboardInterrupt) as e:
        results["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    finally:
        cluster.stop()
        if local is not None and local.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(local.pid, signal.SIGKILL)

    got = output_files(cluster_run) if cluster_run.is_dir() else {}
    want = output_files(local_run) if local_run.is_dir() else {}
    problems = diff_outputs(got, want)
    checks = {
        "cluster job succeeded": results.get("job_status") == "SUCCEEDED",
        "local run succeeded": results.get("local_rc") == 0,
        "ledger reconciles": _reconciles(cluster_run),
        "outputs present (parts, rejected, quarantine, tokens)": _covers(want),
        f"{len(want)} output files byte-identical": bool(want) and not problems,
    }
    print()
    print("| check | result |\n|---|---|")
    for name, ok in checks.items():
        print(f"| {name} | {'ok' if ok else 'FAILED'} |")
    for p in problems[:20]:
        print(f"  {p}")
    if "error" in results:
        print(f"error: {results['error']}")
    passed = all(checks.values()) and "error" not in results
    if not passed:
        for name in ["head", "worker1", "job", "local"]:
            log = work / f"{name}.log"
            if log.exists():
                print(f"\n--- {log} (tail) ---\n{log.read_text(errors='replace')[-2500:]}")
    print(f"\ncluster-test: {'PASS' if passed else 'FAIL'}  {json.dumps(results)}")
    if args.keep or not passed:
        print(f"kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if passed else 1


def job_status(cli_output: str, submission: str) -> str:
    """SUCCEEDED / FAILED / STOPPED / ... from `ray job status` (it prints success differently from the rest)."""
    if f"Job '{submission}' succeeded" in cli_output:
        return "SUCCEEDED"
    m = re.search(rf"Status for job '{re.escape(submission)}': ([\w.]+)", cli_output)
    return m.group(1) if m else "UNKNOWN"


def _reconciles(run_dir: Path) -> bool:
    stats = run_dir / "stats.json"
    return stats.exists() and bool(json.loads(stats.read_text()).get("reconciles"))


def _covers(files: dict[str, bytes]) -> bool:
    prefixes = [
        "ingest/part-",
        "near_dedup/part-",
        "rejected/",
        "quarantine/",
        "tokens/train/",
        "tokens/val/",
    ]
    return all(any(k.startswith(p) for k in files) for p in prefixes)


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds above 0 (0 or less is a usage error, exit 2)."""
    value = float(text)  # argparse turns a ValueError into "invalid positive_seconds value"
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the work directory (runs, logs)")
    parser.add_argument(
        "--timeout", type=positive_seconds, default=240, help="seconds allowed for the job and the local run"
    )
    args = parser.parse_args(argv)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
