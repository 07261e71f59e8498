"""Run the dedup steps (`dedup.steps`) inline (one process, for tests and memory curves) or as Ray tasks.

Step functions are plain module-level functions over Arrow tables; multi-output steps return a tuple
(a single value when there is one output, matching Ray's `num_returns=1`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kit.ray_local import connect_ray


class LocalExecutor:
    """Calls each step function immediately in this process."""

    def submit(self, fn: Callable, *args: Any, num_returns: int = 1) -> Any:
        out = fn(*args)
        return list(out) if num_returns > 1 else out

    def get(self, x: Any) -> Any:
        return x

    def put(self, x: Any) -> Any:
        return x


class RayExecutor:
    """Submits each step function as a Ray task; arguments that are ObjectRefs are resolved by Ray."""

    def __init__(self) -> None:
        import ray

        connect_ray()
        self._ray = ray
        self._remote: dict[Callable, Any] = {}

    def submit(self, fn: Callable, *args: Any, num_returns: int = 1) -> Any:
        rf = self._remote.get(fn)
        if rf is None:
            rf = self._remote[fn] = self._ray.remote(fn)
        out = rf.options(num_returns=num_returns).remote(*args)
        return list(out) if num_returns > 1 else out

    def get(self, x: Any) -> Any:
        return self._ray.get(x)

    def put(self, x: Any) -> Any:
        return self._ray.put(x)


def ret(parts: list) -> Any:
    """Return convention for step functions: a tuple of outputs, or the only output."""
    return parts[0] if len(parts) == 1 else tuple(parts)
