"""Trainer throughput: tokens/s and MFU for moe-tiny and a mid-size config, plus the expert-dispatch
implementations side by side (grouped matmul vs the per-expert loop fallback) on the same config.

    .venv/bin/python -m benchmarks.train_speed [--device cpu|cuda] [--steps N] [--configs tiny,mid,small]

MFU convention: 6·(active − input-embedding params) + 6·L·H·T·(d_qk + d_v) FLOPs per token (PaLM appendix B,
no causal discount), over the per-device peak from trainer.metrics (H100/H200 bf16 dense 989 TFLOP/s; CPU:
threads × 2.5 GHz × FLOPs/cycle by ISA, an estimate). Writes benchmarks/results/train_speed.json
(train_speed-cuda.json with --device cuda; --out names another file).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import subprocess
import tempfile
from pathlib import Path

import torch
import yaml
from pydantic import ValidationError

from benchmarks.machine import (
    RESULTS,
    known_names,
    machine_info,
    positive_int,
    require_writable_file,
    usage_error,
    write_results,
)
from trainer.config import Config
from trainer.metrics import read_log
from trainer.sample_tokens import synthetic_tokens_dir
from trainer.train import train

REPO = Path(__file__).resolve().parents[1]
MID = {  # between tiny and small: a few M active params, still CPU-trainable
    "dim": 256, "n_layers": 4, "n_dense_layers": 1, "inter_dim": 768, "n_heads": 8, "kv_lora_rank": 64,
    "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 32, "n_routed_experts": 16,
    "n_activated_experts": 4, "moe_inter_dim": 128, "n_expert_groups": 4, "n_limited_groups": 2,
}  # fmt: skip
CONFIGS = ("tiny", "mid", "small")
IMPLS = ("auto", "grouped_mm", "loop")


def _machine() -> dict:
    """The shared machine facts plus torch's thread count, the CPU model and the GPU."""
    info = machine_info("torch") | {"torch_threads": torch.get_num_threads()}
    with contextlib.suppress(Exception):
        info["cpu"] = (
            subprocess.run(["lscpu"], capture_output=True, text=True)
            .stdout.split("Model name:")[1]
            .split("\n")[0]
            .strip()
        )
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _config(name: str, impl: str, a: argparse.Namespace) -> dict:
    """The benchmark's training config for one (model config, expert impl) from the command line's options."""
    base = "moe-small" if name == "small" else "moe-tiny"
    raw = yaml.safe_load((REPO / "configs" / f"{base}.yaml").read_text())
    if name == "mid":
        raw["model"].update(MID)
    raw["model"]["expert_impl"] = impl
    if a.bias_update_rate is not None:
        raw["model"]["bias_update_rate"] = a.bias_update_rate
    raw["train"].update(
        steps=a.steps, warmup_steps=min(10, a.steps), log_every=max(1, a.steps // 4), eval_every=0,
        checkpoint_every=0, device=a.device, compile=a.compile, global_batch_size=a.batch,
        micro_batch_size=a.micro, keep_checkpoints=1,
    )  # fmt: skip
    return raw


def _full_windows(recs: list[dict]) -> list[dict]:
    """The logged windows of the full log_every length: a short tail (the last steps when log_every does
    not divide the steps) is too few steps for a rate or a load figure."""
    sizes = [b - a for a, b in itertools.pairwise([0, *(r["step"] for r in recs)])]
    return [r for r, n in zip(recs, sizes, strict=True) if n == max(sizes)]


def run_one(name: str, impl: str, tokens: Path, work: Path, a: argparse.Namespace) -> dict:
    cfg_path = work / f"{name}-{impl}.yaml"
    cfg_path.write_text(yaml.safe_dump(_config(name, impl, a)))
    res = train(str(cfg_path), str(tokens), str(work / f"out-{name}-{impl}"), resume=False)
    recs = [r for r in read_log(res.log_path) if r.get("kind") == "train"]
    start = next(r for r in read_log(res.log_path) if r.get("kind") == "start")
    steady = _full_windows(recs)[1:] or recs  # the first window holds warm-up / compilation
    tps = sum(r["tokens_per_s"] for r in steady) / len(steady)
    return {
        "config": name, "impl": impl, "device": start["device"], "precision": start["precision"],
        "params_total": res.total_params, "params_active": res.active_params, "steps": res.step,
        "tokens_per_s": tps, "mfu": sum(r["mfu"] for r in steady) / len(steady),
        "peak_flops": start["peak_flops_per_device"], "peak_source": start["peak_source"],
        "load_max_over_mean": steady[-1]["expert_load_max_over_mean_worst"], "final_loss": res.final_loss,
        "load_max_over_mean_by_window": [r["expert_load_max_over_mean_worst"] for r in recs],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--configs", default="tiny,mid", help=f"model configs to run: any of {','.join(CONFIGS)}")
    ap.add_argument("--steps", type=positive_int, default=40)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument(
        "--impls", default="grouped_mm,loop", help=f"expert paths to compare: any of {','.join(IMPLS)}"
    )
    ap.add_argument("--batch", type=positive_int, default=16)
    ap.add_argument("--micro", type=positive_int, default=8)
    ap.add_argument("--seq-len", type=positive_int, default=128)
    ap.add_argument("--vocab", type=positive_int, default=4096)
    ap.add_argument(
        "--bias-update-rate", type=float, help="aux-loss-free balancing step γ (default: the config's, 0.001)"
    )
    ap.add_argument(
        "--out",
        help="results JSON file, written as named (default benchmarks/results/train_speed[-cuda].json)",
    )
    a = ap.parse_args(argv)
    # Every argument is checked here, before the first training run.
    configs = known_names("--configs", a.configs, CONFIGS)
    impls = known_names("--impls", a.impls, IMPLS)
    if a.device == "cuda" and not torch.cuda.is_available():
        usage_error(
            "--device cuda: this torch sees no CUDA GPU (torch.cuda.is_available() is False); use --device cpu"
        )
    for name in configs:
        for impl in impls:
            try:
                Config.model_validate(_config(name, impl, a))
            except ValidationError as e:
                err = e.errors()[0]
                where = ".".join(map(str, err["loc"]))
                usage_error(
                    f"the {name} config with {impl} experts is invalid: {where}: {err['msg']} "
                    "(check --steps, --batch, --micro and --bias-update-rate)"
                )
    out = (
        Path(a.out)
        if a.out
        else RESULTS / ("train_speed.json" if a.device == "cpu" else "train_speed-cuda.json")
    )
    if out.suffix != ".json" and not out.is_dir():  # write_results names its file <stem>.json
        usage_error(f"--out {out}: a results file name ends in .json, e.g. {out.with_suffix('.json')}")
    require_writable_file(out)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tokens = synthetic_tokens_dir(
            work / "tokens", a.vocab, a.seq_len, rows=max(256, a.batch * 8), val_rows=a.micro
        )
        for name in configs:
            for impl in impls:
                rows.append(run_one(name, impl, tokens, work, a))
    machine = _machine()
    print(f"\nmachine: {machine}\n")
    print(
        "| config | device | precision | active / total params | expert impl | tokens/s | MFU | vs loop | load max/mean |"
    )
    print("|---|---|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        ref = next((x for x in rows if x["config"] == r["config"] and x["impl"] == "loop"), r)
        print(
            f"| {r['config']} | {r['device']} | {r['precision']} | {r['params_active'] / 1e6:.2f}M / {r['params_total'] / 1e6:.2f}M"
            f" | {r['impl']} | {r['tokens_per_s']:,.0f} | {100 * r['mfu']:.2f}% | {r['tokens_per_s'] / ref['tokens_per_s']:.2f}x"
            f" | {r['load_max_over_mean'] or 0:.2f} |"
        )
    print(f"\npeak used: {rows[0]['peak_flops'] / 1e12:.2f} TFLOP/s ({rows[0]['peak_source']}); seq_len {a.seq_len}, "
          f"global batch {a.batch}, micro {a.micro}, {a.steps} steps, synthetic Zipf tokens (vocab {a.vocab})")  # fmt: skip
    method = (
        f"one run of {a.steps} steps per (config, expert impl), {a.device}, "
        f"{'torch.compile' if a.compile else 'eager'}; tokens/s and MFU are the mean over the full logged windows "
        f"(every {max(1, a.steps // 4)} steps; a shorter tail is left out) after the first, which holds warm-up "
        "and compilation; load max/mean is the last full window's worst layer; "
        "synthetic Zipf tokens, so final_loss is a training loss (no held-out set)"
    )
    params = {k: v for k, v in vars(a).items() if k != "out"}
    write_results(
        out.stem, {"params": params, "rows": rows}, method=method, machine=machine, folder=out.parent
    )


if __name__ == "__main__":
    main()
