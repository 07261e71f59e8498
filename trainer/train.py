"""The training loop: AdamW + warmup/cosine, grad accumulation and clipping, bf16 autocast on GPU, optional
torch.compile, DDP/FSDP2 under torchrun, aux-loss-free router balancing, eval (loss, bits/byte), checkpoints."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from trainer import checkpoint as ckpt
from trainer import distributed as D
from trainer.config import Config, load_config
from trainer.data import TrainBatches, ValSet, open_split
from trainer.experts import grouped_mm_supported
from trainer.metrics import RunLog, device_peak_flops, plot_losses
from trainer.model import Transformer, count_params


@dataclass
class TrainResult:
    out_dir: str
    checkpoint_dir: str | None
    step: int
    tokens_seen: int
    final_loss: float | None  # mean LM loss over the last logging window
    val_loss: float | None
    val_bpb: float | None
    seconds: float
    log_path: str
    plot_path: str | None
    total_params: int
    active_params: int


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine down to min_ratio at `total`."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices (incl. embedding, experts, router); never norms or other vectors."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _resolve(cfg: Config, vocab: int, seq_len: int) -> Config:
    m = cfg.model
    if m.vocab_size is not None and m.vocab_size < vocab:
        raise ValueError(f"model.vocab_size={m.vocab_size} is smaller than the tokens' vocab_size={vocab}")
    if m.max_seq_len is not None and m.max_seq_len < seq_len:
        raise ValueError(f"model.max_seq_len={m.max_seq_len} is shorter than the tokens' seq_len={seq_len}")
    resolved = m.model_copy(
        update={"vocab_size": m.vocab_size or vocab, "max_seq_len": m.max_seq_len or seq_len}
    )
    return cfg.model_copy(update={"model": resolved})


def _no_sync(model: nn.Module, sync: bool):
    """Skip gradient all-reduce on all but the last micro-batch (DDP no_sync / FSDP2 requires_gradient_sync)."""
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2: a flag, so it must be set back on the last one
        model.set_requires_gradient_sync(sync)
        return contextlib.nullcontext()
    if sync or not hasattr(model, "no_sync"):
        return contextlib.nullcontext()
    return model.no_sync()


def _full_state(core: nn.Module, opt: torch.optim.Optimizer, fsdp: bool) -> tuple[dict, dict]:
    if not fsdp:
        return core.state_dict(), opt.state_dict()
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    o = StateDictOptions(full_state_dict=True, cpu_offload=True)  # gathered on rank 0 only
    weights, by_name = get_model_state_dict(core, options=o), get_optimizer_state_dict(core, opt, options=o)
    # Same layout as opt.state_dict() of one process, so the checkpoint resumes under any world size or mode.
    return weights, D.optim_state_by_index(by_name, core, opt) if by_name else {}


@torch.no_grad()
def evaluate(core: Transformer, val: ValSet, micro: int, device: torch.device, amp, info: D.DistInfo) -> dict:
    """Mean NLL per target token and bits per byte over the fixed val slice (summed over ranks)."""
    was_training = core.training
    core.eval()
    acc = torch.zeros(3, dtype=torch.float64, device=device)  # nll, tokens, bytes
    for rows, nbytes in val.batches(micro):
        rows = rows.to(device)
        with amp():
            logits = core(rows[:, :-1])
        nll = nn.functional.cross_entropy(
            logits.float().flatten(0, 1), rows[:, 1:].flatten(), reduction="sum"
        )
        acc += torch.stack([nll.double(), acc.new_tensor(rows[:, 1:].numel()), acc.new_tensor(nbytes)])
    D.all_reduce_sum(acc, info)
    core.train(was_training)
    nll, toks, nbytes = acc.tolist()
    return {
        "val_loss": nll / toks,
        "val_bpb": nll / (math.log(2) * nbytes) if nbytes else None,
        "val_tokens": toks,
    }


def train(
    config_path: str, tokens_dir: str, out_dir: str, *, resume: bool = True, max_steps: int | None = None
) -> TrainResult:
    """Train `config_path` on `tokens_dir`; checkpoints under out_dir/checkpoints, log out_dir/train_log.jsonl.

    resume=True continues from the newest checkpoint in out_dir (exactly: weights, optimizer, scheduler, RNG,
    data cursor). max_steps stops this invocation at that global step; the schedule still spans train.steps."""
    return train_config(load_config(config_path), tokens_dir, out_dir, resume=resume, max_steps=max_steps)


def train_config(
    cfg: Config, tokens_dir: str, out_dir: str, *, resume: bool = True, max_steps: int | None = None
) -> TrainResult:
    t_start = time.perf_counter()
    tc = cfg.train
    info = D.setup(tc.device)
    out = Path(out_dir)
    ckpt_root = out / "checkpoints"
    log = RunLog(out / "train_log.jsonl", enabled=info.is_main)
    try:
        ds = open_split(tokens_dir, "train", verify=tc.verify_shards)
        assert ds is not None
        val_ds = open_split(tokens_dir, "val", verify=tc.verify_shards)
        cfg = _resolve(cfg, ds.vocab_size, ds.seq_len)
        if tc.global_batch_size % (tc.micro_batch_size * info.world):
            raise ValueError("train.global_batch_size must be a multiple of micro_batch_size × world size")
        accum = tc.global_batch_size // (tc.micro_batch_size * info.world)

        latest = ckpt.latest_checkpoint(ckpt_root)
        if latest is not None and not resume:
            raise FileExistsError(f"{latest} exists; resume or choose an empty --out directory")

        torch.manual_seed(tc.seed)
        model = Transformer(cfg.model)
        counts = count_params(model)
        batches = TrainBatches(ds, tc.global_batch_size, tc.seed, info.rank, info.world)
        step, tokens_seen, state = 0, 0, None
        if latest is not None:
            saved = ckpt.load_config_json(latest)
            if saved["model"] != cfg.model.model_dump(mode="json"):
                raise ValueError(
                    f"{latest}/config.json: model config differs from the one given; cannot resume"
                )
            model.load_state_dict(ckpt.load_weights(latest), strict=True)
            state = ckpt.load_state(latest)
            step, tokens_seen = int(state["step"]), int(state["tokens_seen"])
            batches.load_state_dict(state["sampler"])
        model.to(info.device)

        fsdp = info.enabled and tc.parallel == "fsdp"
        # Wrap first: fully_shard swaps the parameters for sharded DTensors, and the optimizer must hold those.
        wrapped = D.wrap(model, info, tc.parallel)
        fused = info.device.type == "cuda"
        opt = torch.optim.AdamW(
            _param_groups(model, tc.weight_decay),
            lr=tc.lr,
            betas=(tc.beta1, tc.beta2),
            eps=tc.eps,
            fused=fused,
        )
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: lr_factor(s, tc.warmup_steps, tc.steps, tc.min_lr_ratio)
        )
        if state is not None:
            if fsdp:
                from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

                set_optimizer_state_dict(
                    model,
                    opt,
                    D.optim_state_by_name(state["optimizer"], model, opt),
                    options=StateDictOptions(full_state_dict=True),
                )
            else:
                opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng"]["torch"])
            if info.device.type == "cuda" and state["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(state["rng"]["cuda"], info.device)
        for dt in (torch.float32, torch.bfloat16):  # probe eagerly, outside any compiled graph
            grouped_mm_supported(info.device.type, dt)
        fwd = torch.compile(wrapped) if tc.compile else wrapped

        precision = (
            tc.precision if tc.precision != "auto" else ("bf16" if info.device.type == "cuda" else "fp32")
        )

        def amp():
            if precision == "bf16":
                return torch.autocast(info.device.type, dtype=torch.bfloat16)
            return contextlib.nullcontext()

        peak, peak_label = device_peak_flops(info.device, precision, tc.peak_flops)
        seq_len = ds.seq_len
        step_tokens = tc.global_batch_size * seq_len
        val = (  # the same rows under any world size (split over ranks), so val_loss compares across them
            ValSet(val_ds, tc.eval_batches * tc.micro_batch_size, info.rank, info.world)
            if val_ds is not None
            else None
        )
        gates = model.gates()
        stop = min(tc.steps, max_steps) if max_steps is not None else tc.steps
        log.write(
            {
                "kind": "start",
                "step": step,
                "device": str(info.device),
                "world": info.world,
                "precision": precision,
                "params_total": counts.total,
                "params_active": counts.active,
                "flops_per_token": counts.per_token_flops,
                "flops_convention": "6*(active-embedding)+6*L*H*T*(d_qk+d_v) per token (PaLM, no causal discount)",
                "peak_flops_per_device": peak,
                "peak_source": peak_label,
                "grad_accum": accum,
            },
            f"[train] {info.device} x{info.world} {precision}: {counts.total / 1e6:.2f}M params, "
            f"{counts.active / 1e6:.2f}M active; peak {peak / 1e12:.1f} TFLOP/s ({peak_label}); from step {step}",
        )

        model.train()
        win_loss = torch.zeros((), device=info.device, dtype=torch.float64)
        win_load = torch.zeros(len(gates), cfg.model.n_routed_experts, device=info.device)
        win_steps, win_wait, win_t0 = 0, 0.0, time.perf_counter()
        last: dict = {}
        last_val: dict = {}
        grad_norm = torch.zeros(())
        while step < stop:
            t0 = time.perf_counter()
            rows = batches.next()
            win_wait += time.perf_counter() - t0
            for i, micro in enumerate(rows.split(tc.micro_batch_size)):
                micro = micro.to(info.device, non_blocking=True)
                sync = i == accum - 1
                with _no_sync(wrapped, sync), amp():
                    loss, lm = fwd(micro[:, :-1], micro[:, 1:])
                (loss / accum).backward()
                win_loss += lm.double() / accum
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip or float("inf"))
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            with torch.no_grad():
                load = torch.stack([g.load for g in gates]) if gates else win_load
                D.all_reduce_sum(load, info)
                for g, lg in zip(gates, load, strict=True):
                    g.update_bias(lg, cfg.model.bias_update_rate)
                    g.load.zero_()
                if gates:
                    win_load += load
            step += 1
            tokens_seen += step_tokens
            win_steps += 1

            if step % tc.log_every == 0 or step == stop:
                D.all_reduce_sum(win_loss, info)
                dt = time.perf_counter() - win_t0
                tps = win_steps * step_tokens / dt
                mean_loss = win_loss.item() / (win_steps * info.world)
                lm_ = (win_load.max(1).values / win_load.mean(1).clamp_min(1e-9)).tolist() if gates else []
                biases = torch.stack([g.expert_bias for g in gates]) if gates else torch.zeros(1)
                last = {
                    "kind": "train",
                    "step": step,
                    "loss": mean_loss,
                    "lr": sched.get_last_lr()[0],
                    "grad_norm": float(grad_norm),
                    "tokens_seen": tokens_seen,
                    "tokens_per_s": tps,
                    "mfu": counts.per_token_flops * tps / (peak * info.world),
                    "data_wait_share": win_wait / dt,
                    "expert_load_max_over_mean": lm_,
                    "expert_load_max_over_mean_worst": max(lm_) if lm_ else None,
                    "dead_experts": int((win_load == 0).sum()) if gates else 0,
                    "router_bias_min": float(biases.min()),
                    "router_bias_max": float(biases.max()),
                }
                log.write(
                    last,
                    f"step {step:6d}/{stop} | loss {mean_loss:.4f} | lr {last['lr']:.2e} | gnorm "
                    f"{last['grad_norm']:.3f} | {tps:,.0f} tok/s | MFU {100 * last['mfu']:.2f}% | wait "
                    f"{100 * last['data_wait_share']:.1f}% | load max/mean {last['expert_load_max_over_mean_worst'] or 0:.2f}"
                    f" | dead {last['dead_experts']} | bias [{last['router_bias_min']:+.3f}, "
                    f"{last['router_bias_max']:+.3f}]",
                )
                win_loss.zero_()
                win_load.zero_()
                win_steps, win_wait, win_t0 = 0, 0.0, time.perf_counter()

            if val is not None and ((tc.eval_every and step % tc.eval_every == 0) or step == stop):
                last_val = evaluate(model, val, tc.micro_batch_size, info.device, amp, info)
                log.write(
                    {"kind": "val", "step": step, **last_val},
                    f"step {step:6d} | val loss {last_val['val_loss']:.4f} | val bpb {last_val['val_bpb'] or 0:.4f}",
                )
                win_t0 = time.perf_counter()  # eval time is not training throughput

            if (tc.checkpoint_every and step % tc.checkpoint_every == 0) or step == stop:
                weights, opt_state = _full_state(model, opt, fsdp)
                if info.is_main:
                    rng = {"torch": torch.get_rng_state()}
                    if info.device.type == "cuda":
                        rng["cuda"] = torch.cuda.get_rng_state(info.device)
                    ckpt.save_checkpoint(
                        ckpt_root,
                        step,
                        weights,
                        {
                            **cfg.model_dump(mode="json"),
                            "data": {
                                "eos_id": ds.eos_id,
                                "bos_id": ds.bos_id,
                                "pad_id": ds.pad_id,
                                "seq_len": seq_len,
                            },
                        },
                        {
                            "step": step,
                            "tokens_seen": tokens_seen,
                            "optimizer": opt_state,
                            "scheduler": sched.state_dict(),
                            "rng": rng,
                            "sampler": batches.state_dict(),
                            "world_size": info.world,
                        },
                        ds.tokenizer_path,
                        tc.keep_checkpoints,
                    )
                D.barrier(info)  # no rank moves on (or reports the latest checkpoint) before it is in place
                win_t0 = time.perf_counter()

        if val is not None and not last_val:
            # Nothing ran (already at the stop step): still evaluate so the result carries figures.
            last_val = evaluate(model, val, tc.micro_batch_size, info.device, amp, info)
        plot = plot_losses(log.path, out / "loss_curve.png") if info.is_main else None
        latest = ckpt.latest_checkpoint(ckpt_root)
        result = TrainResult(
            out_dir=str(out),
            checkpoint_dir=str(latest) if latest else None,
            step=step,
            tokens_seen=tokens_seen,
            final_loss=last.get("loss"),
            val_loss=last_val.get("val_loss"),
            val_bpb=last_val.get("val_bpb"),
            seconds=time.perf_counter() - t_start,
            log_path=str(log.path),
            plot_path=str(plot) if plot else None,
            total_params=counts.total,
            active_params=counts.active,
        )
        log.write(
            {"kind": "end", **asdict(result)},
            f"[train] done at step {step}; checkpoint {result.checkpoint_dir}",
        )
        return result
    finally:
        D.teardown(info)
