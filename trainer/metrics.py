"""Throughput accounting (MFU), the JSONL log with its console line, and the loss-curve plot.

The plot is `kit.svg.loss_chart`, the same drawing of the curve as the run report's.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from kit.files import write_text_atomic
from kit.svg import loss_chart, svg_document

# Dense (no 2:4 sparsity) peak FLOP/s per device for the precision we train in.
GPU_PEAK_FLOPS = {
    "H200": {"bf16": 989e12, "fp32": 67e12},
    "H100": {"bf16": 989e12, "fp32": 67e12},  # SXM; PCIe is lower (756e12), name match picks SXM figure
    "A100": {"bf16": 312e12, "fp32": 19.5e12},
    "L40S": {"bf16": 362e12, "fp32": 91.6e12},
    "A10G": {"bf16": 125e12, "fp32": 31.2e12},
}
CPU_GHZ_ASSUMED = 2.5


def cpu_peak_flops(threads: int) -> float:
    """Estimate: threads × 2.5 GHz × fp32 FLOPs/cycle (64 with AVX-512 FMA, 32 with AVX2 FMA, else 8).
    An estimate, not a measurement; set train.peak_flops or WINNOW_PEAK_FLOPS to use a known figure."""
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        pass
    per_cycle = 64 if "avx512f" in flags else 32 if ("avx2" in flags and "fma" in flags) else 8
    return threads * CPU_GHZ_ASSUMED * 1e9 * per_cycle


def device_peak_flops(
    device: torch.device, precision: str, configured: float | None = None
) -> tuple[float, str]:
    """(peak FLOP/s of one device, a label saying where the figure came from)."""
    if configured:
        return configured, "configured"
    env = os.environ.get("WINNOW_PEAK_FLOPS")
    if env:
        return float(env), "WINNOW_PEAK_FLOPS"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, table in GPU_PEAK_FLOPS.items():
            if key in name:
                return table[precision], f"{key} {precision} dense table"
        return 989e12 if precision == "bf16" else 67e12, f"unknown GPU {name!r}: H100 table"
    threads = torch.get_num_threads()
    return cpu_peak_flops(threads), f"CPU estimate ({threads} threads × {CPU_GHZ_ASSUMED} GHz)"


class RunLog:
    """Appends one JSON object per line (atomic enough: one write per record) and prints a readable line."""

    def __init__(self, path: str | Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict, console: str | None = None) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        if console:
            print(console, flush=True)


def read_log(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_losses(log_path: str | Path, path: str | Path) -> Path | None:
    """Train and val loss against step from the JSONL log, as an SVG file (written atomically);
    None when the log holds no loss yet."""
    recs = read_log(log_path)
    train = [(r["step"], r["loss"]) for r in recs if r.get("kind") == "train"]
    val = [(r["step"], r["val_loss"]) for r in recs if r.get("kind") == "val"]
    if not train and not val:
        return None
    path = Path(path)
    chart = loss_chart(_columns(train), _columns(val))
    write_text_atomic(path, svg_document(chart))
    return path


def _columns(points: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """(steps, losses), without non-finite losses (a diverged step leaves a gap, not a broken axis)."""
    kept = [(float(x), float(y)) for x, y in points if math.isfinite(y)]
    return [x for x, _ in kept], [y for _, y in kept]
