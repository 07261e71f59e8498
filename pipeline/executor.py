"""Running shard jobs on Ray: local instance by default, an existing cluster on request.

Ray schedules; we only bound how many jobs are in flight (so a corpus of
100k parts does not become 100k pending object refs) and show progress.

Lost workers and nodes: every part write is atomic and a part's stats file is
written last, so redoing a part writes the same bytes again. Plain tasks keep
Ray's system-failure retries. The actor pool does its own recovery instead of
Ray's actor restarts: a job whose actor died goes back on the queue for a live
actor, and a replacement actor is started that joins the pool only once it is
up. (With Ray's restarts, a job pinned to a restarting actor waits for that
actor, which never gets placed while the survivors hold every CPU: a hang.)
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

import ray
from ray.exceptions import RayActorError
from tqdm import tqdm

from kit.ray_local import RayUnreachableError, connect_ray
from pipeline.config import ConfigError

log = logging.getLogger("winnow")

# Progress: a log line at most this often (seconds) when stderr is not a terminal; waits wake up
# this often so the line (or the bar's clock) moves even while one long part runs.
PROGRESS_EVERY_S = 5.0
WAIT_TICK_S = 1.0

# How often one job may lose its actor (node lost, worker OOM-killed, segfault) before the stage fails.
ACTOR_JOB_ATTEMPTS = 4


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join `address` (or RAY_ADDRESS) when given, else start a loopback-only local instance.

    Inside `ray job submit`, Ray sets RAY_ADDRESS for the entrypoint, so the run joins the cluster
    and inherits the job's runtime env (e.g. `--working-dir`). The local start is
    `kit.ray_local.start_local_ray`: every service on 127.0.0.1, no dashboard, no metrics export.
    """
    try:
        connect_ray(address, num_cpus)
    except RayUnreachableError as e:
        raise ConfigError(unreachable_message(e)) from None
    ray.data.DataContext.get_current().enable_progress_bars = sys.stderr.isatty()


def unreachable_message(err: RayUnreachableError) -> str:
    """The one `error:` line for a cluster that does not answer: which setting named it, and how to
    run without it (a stale RAY_ADDRESS is the usual cause)."""
    if err.from_env:
        where, instead = "from RAY_ADDRESS", "unset RAY_ADDRESS to run locally"
    else:
        where, instead = "from --address or the config's ray.address", "leave the address out to run locally"
    return f"cannot reach the Ray cluster at {err.address} ({where}: {err.reason}); check the address, or {instead}"


def cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_tasks(
    fn: Callable[..., Any],
    jobs: Iterable[tuple[Any, ...]],
    *,
    total: int,
    desc: str,
    num_cpus: float = 1,
    max_in_flight: int | None = None,
    max_retries: int = 3,
    unit: str = "part",
    postfix: Callable[[Any], str] | None = None,
) -> Iterator[Any]:
    """Run `fn(*job)` as Ray tasks, yielding results as they finish (order not guaranteed).

    `postfix(result)` may return a short text for the progress bar (e.g. bytes read so far).

    A task whose worker or node dies is retried by Ray (`max_retries`); an exception raised by
    `fn` itself is not retried (the stages quarantine bad documents instead of raising).
    """
    remote = ray.remote(num_cpus=num_cpus, max_retries=max_retries, retry_exceptions=False)(fn)
    limit = max_in_flight or 2 * cluster_cpus()
    pending: list[ray.ObjectRef] = []
    with StageProgress(total, desc, unit) as bar:

        def finished(ref: ray.ObjectRef) -> Any:
            result = ray.get(ref)
            bar.update(postfix(result) if postfix is not None else None)
            return result

        for job in jobs:
            while len(pending) >= limit:
                done, pending = ray.wait(pending, num_returns=1, timeout=WAIT_TICK_S)
                if not done:
                    bar.tick()
                    continue
                yield finished(done[0])
            pending.append(remote.remote(*job))
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=WAIT_TICK_S)
            if not done:
                bar.tick()
                continue
            yield finished(done[0])


def run_on_actors(
    actor_cls: type,
    actor_args: tuple[Any, ...],
    method: str,
    jobs: Iterable[tuple[Any, ...]],
    *,
    total: int,
    desc: str,
    num_actors: int,
    num_cpus: float = 1,
    num_gpus: float = 0,
    max_attempts: int = ACTOR_JOB_ATTEMPTS,
    postfix: Callable[[Any], str] | None = None,
) -> Iterator[Any]:
    """Run jobs on a pool of actors that each hold a loaded model (built once per actor).

    Results are yielded as they finish. A job whose actor dies is requeued (at most
    `max_attempts` tries per job) and the dead actor is replaced; an exception raised by the
    method itself propagates. An actor whose constructor fails counts against the same budget,
    so a broken model file fails the stage instead of respawning forever.
    """
    remote_cls = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=0, max_task_retries=0)(
        actor_cls
    )
    queue: deque[tuple[tuple[Any, ...], int]] = deque((job, 1) for job in jobs)
    starting: dict[ray.ObjectRef, Any] = {}  # readiness probe -> actor being created
    idle: list[Any] = []
    running: dict[ray.ObjectRef, tuple[Any, tuple[Any, ...], int]] = {}
    failed_starts = 0

    def spawn() -> None:
        actor = remote_cls.remote(*actor_args)
        starting[actor.__ray_ready__.remote()] = actor

    for _ in range(max(1, num_actors)):
        spawn()
    try:
        with StageProgress(total, desc) as bar:
            while queue or running:
                while idle and queue:
                    actor = idle.pop()
                    job, attempt = queue.popleft()
                    running[getattr(actor, method).remote(*job)] = (actor, job, attempt)
                ready, _ = ray.wait([*starting, *running], num_returns=1, timeout=WAIT_TICK_S)
                if not ready:
                    bar.tick()
                    continue
                ref = ready[0]
                if ref in starting:
                    actor = starting.pop(ref)
                    try:
                        ray.get(ref)
                    except RayActorError as e:
                        failed_starts += 1
                        if failed_starts >= max_attempts + num_actors:
                            raise RuntimeError(f"{desc}: {failed_starts} actors failed to start") from e
                        log.warning("%s: an actor failed to start (%s); starting another", desc, e)
                        spawn()
                    else:
                        idle.append(actor)
                    continue
                actor, job, attempt = running.pop(ref)
                try:
                    result = ray.get(ref)
                except RayActorError as e:
                    if attempt >= max_attempts:
                        raise RuntimeError(f"{desc}: job {job!r} lost its actor {attempt} times") from e
                    log.warning("%s: actor lost (%s); job requeued (attempt %d)", desc, e, attempt + 1)
                    ray.kill(actor)
                    queue.appendleft((job, attempt + 1))
                    spawn()
                    continue
                idle.append(actor)
                bar.update(postfix(result) if postfix is not None else None)
                yield result
    finally:
        for actor in [*idle, *starting.values(), *(a for a, _, _ in running.values())]:
            ray.kill(actor)


def progress_every_s() -> float:
    """Seconds between progress lines in a log: WINNOW_PROGRESS_EVERY, else PROGRESS_EVERY_S."""
    try:
        value = float(os.environ.get("WINNOW_PROGRESS_EVERY", PROGRESS_EVERY_S))
    except ValueError:
        return PROGRESS_EVERY_S
    return min(max(value, 0.1), 3600.0) if math.isfinite(value) else PROGRESS_EVERY_S


class StageProgress:
    """A stage's progress on stderr while it runs, so a long stage is never silent.

    On a terminal: a tqdm bar (parts done / total, the caller's postfix, elapsed time). In a log
    (stderr not a TTY): one plain line at most every `progress_every_s()` seconds, and none for a
    stage that finishes sooner, so logs stay short. A stage that has written a line writes its last
    one too (all parts done), so a log never ends on a stale count.
    """

    def __init__(self, total: int, desc: str, unit: str = "part", stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self.note = ""
        self.every = progress_every_s()
        self.start = self.last_line = time.monotonic()
        self.lines_written = 0
        interactive = self.stream.isatty() and total > 0
        self.bar = (
            tqdm(total=total, desc=desc, unit=unit, leave=False, file=self.stream) if interactive else None
        )

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, note: str | None = None) -> None:
        """One more part finished; `note` (e.g. "12,345 documents") describes the work so far. The
        caller's `total` is exact (every stage counts its parts first), so the last part is `done == total`."""
        self.done += 1
        if note is not None:
            self.note = note
        if self.bar is not None:
            if note is not None:
                self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(1)
        self.tick(final=self.done == self.total and self.lines_written > 0)

    def tick(self, final: bool = False) -> None:
        """Called while waiting too: refreshes the bar's clock, or writes the log line when due."""
        if self.bar is not None:
            self.bar.refresh()
            return
        now = time.monotonic()
        if self.total and (final or now - self.last_line >= self.every):
            self.last_line = now
            self.lines_written += 1
            note = f", {self.note}" if self.note else ""
            line = f"  {self.desc}: {self.done}/{self.total} {self.unit}s{note}, {now - self.start:.0f}s"
            print(line, file=self.stream, flush=True)
