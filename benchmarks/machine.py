"""Machine facts that every benchmark records next to its figures."""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def machine_info(*packages: str) -> dict:
    """nproc, memory, load, Python, the given packages' versions and the UTC time."""
    path = Path("/proc/meminfo")
    meminfo = path.read_text().splitlines() if path.exists() else []
    mem_kb = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:")), 0)
    info = {
        "cpu": platform.processor() or platform.machine(),
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "load_average": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    for name in packages:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = "not installed"
    return info


def cpu_probe() -> float:
    """CPU-seconds of a fixed pure-Python loop (best of 3): how fast this core is right now. On a shared
    virtual machine it varies by tens of percent from minute to minute; figures measured minutes apart
    compare through it, and ratios measured in one run need it less."""
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        sum(range(10_000_000))
        best = min(best, time.process_time() - t0)
    return round(best, 3)
