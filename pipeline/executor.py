"""Running shard jobs on Ray: local instance by default, an existing cluster on request.

Ray schedules; we only bound how many jobs are in flight (so a corpus of
100k parts does not become 100k pending object refs) and show progress.
Tasks keep Ray's retries: every part write is atomic, so a retried task
after a lost worker writes the same bytes again.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import ray
from tqdm import tqdm

log = logging.getLogger("winnow")


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join `address` (or RAY_ADDRESS) when given, else start a local instance; no-op if already up."""
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = {"log_to_driver": True, "configure_logging": False}
    # Workers must import the project's packages: ship this checkout's runtime env only for clusters.
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **kwargs)
    ray.data.DataContext.get_current().enable_progress_bars = sys.stderr.isatty()


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
) -> Iterator[Any]:
    """Run `fn(*job)` as Ray tasks, yielding results as they finish (order not guaranteed)."""
    remote = ray.remote(num_cpus=num_cpus, max_retries=max_retries, retry_exceptions=False)(fn)
    limit = max_in_flight or 2 * cluster_cpus()
    pending: list[ray.ObjectRef] = []
    with progress(total, desc) as bar:
        for job in jobs:
            if len(pending) >= limit:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
                bar.update(1)
            pending.append(remote.remote(*job))
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
            bar.update(1)


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
) -> Iterator[Any]:
    """Run jobs on a pool of actors that each hold a loaded model (built once per actor)."""
    from ray.util import ActorPool

    remote_cls = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=3, max_task_retries=3)(actor_cls)
    actors = [remote_cls.remote(*actor_args) for _ in range(max(1, num_actors))]
    pool = ActorPool(actors)
    try:
        with progress(total, desc) as bar:
            for result in pool.map_unordered(lambda a, job: getattr(a, method).remote(*job), list(jobs)):
                bar.update(1)
                yield result
    finally:
        for a in actors:
            ray.kill(a)


def progress(total: int, desc: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit="part", disable=not sys.stderr.isatty() or total == 0, leave=False)
