"""The training loop: AdamW + warmup/cosine, grad accumulation and clipping, bf16 autocast on GPU, optional
torch.compile, DDP/FSDP2 under torchrun, aux-loss-free router balancing, eval (loss, bits/byte), checkpoints."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from tokenization.reader import TokenDataset
from trainer import checkpoint as ckpt
from trainer import distributed as D
from trainer.config import Config, TrainConfig, load_config
from trainer.data import TrainBatches, ValSet, open_split
from trainer.experts import grouped_mm_supported
from trainer.metrics import RunLog, device_peak_flops, plot_losses
from trainer.model import Gate, ParamCounts, Transformer, count_params


class TrainInputError(ValueError):
    """A config, tokens directory or --out that cannot make (or continue) this run; the message says
    what to change, so the command line prints it as one `error:` line."""


class CheckpointExistsError(FileExistsError):
    """resume=False on an --out that already holds a checkpoint: a run is never overwritten."""


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
        raise TrainInputError(
            f"model.vocab_size={m.vocab_size} is smaller than the tokens' vocab_size={vocab}: raise it or "
            "leave it out (it is then taken from the tokens)"
        )
    if m.max_seq_len is not None and m.max_seq_len < seq_len:
        raise TrainInputError(
            f"model.max_seq_len={m.max_seq_len} is shorter than the tokens' seq_len={seq_len}: raise it or "
            "leave it out (it is then taken from the tokens)"
        )
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
    """`train` for a loaded config: set up (or resume) the run, take the steps, then summarise it."""
    t_start = time.perf_counter()
    info = D.setup(cfg.train.device)
    out = Path(out_dir)
    log = RunLog(out / "train_log.jsonl", enabled=info.is_main)
    try:
        run = _prepare(cfg, tokens_dir, out, info, log, resume=resume, max_steps=max_steps)
        run.log_start()
        run.train_until_stop()
        return run.finish(t_start)
    finally:
        D.teardown(info)


def _open_data(
    cfg: Config, tokens_dir: str, info: D.DistInfo
) -> tuple[Config, TokenDataset, TokenDataset | None, int]:
    """The train and val splits, the config with the model's vocab/seq_len filled in from them, and how many
    micro-batches each rank accumulates per step (the global batch must split evenly over ranks)."""
    tc = cfg.train
    ds = open_split(tokens_dir, "train", verify=tc.verify_shards)
    assert ds is not None
    val_ds = open_split(tokens_dir, "val", verify=tc.verify_shards)
    cfg = _resolve(cfg, ds.vocab_size, ds.seq_len)
    if tc.global_batch_size % (tc.micro_batch_size * info.world):
        raise TrainInputError("train.global_batch_size must be a multiple of micro_batch_size × world size")
    return cfg, ds, val_ds, tc.global_batch_size // (tc.micro_batch_size * info.world)


def _checkpoint_to_resume(ckpt_root: Path, resume: bool) -> Path | None:
    """The newest checkpoint; one that exists without resume is an error (never overwrite a run)."""
    latest = ckpt.latest_checkpoint(ckpt_root)
    if latest is not None and not resume:
        raise CheckpointExistsError(
            f"{ckpt_root.parent} already holds a checkpoint ({latest.name}) and a run is never overwritten: "
            "drop --no-resume to continue it, or give another --out"
        )
    return latest


def model_differences(saved: dict, given: dict, from_tokens: frozenset[str] = frozenset()) -> list[str]:
    """Each model setting that differs between a checkpoint and this run, as "key old -> new"; keys in
    `from_tokens` were filled in from the tokens directory, so the message says the tokens changed."""
    out = []
    for key in sorted(saved.keys() | given.keys()):
        old, new = saved.get(key), given.get(key)
        if old != new:
            out.append(f"{key} {old} -> {new}" + (" (taken from the tokens)" if key in from_tokens else ""))
    return out


def _restore_model(
    latest: Path,
    cfg: Config,
    model: Transformer,
    batches: TrainBatches,
    from_tokens: frozenset[str] = frozenset(),
) -> dict:
    """Load the checkpoint's weights and data cursor; returns its saved state (step, optimizer, RNG, ...).

    A checkpoint of another model config cannot be resumed: its weights would not fit or would mean
    something else (a TrainInputError naming the settings that differ)."""
    saved = ckpt.load_config_json(latest)
    differences = model_differences(saved["model"], cfg.model.model_dump(mode="json"), from_tokens)
    if differences:
        out_dir = latest.parent.parent
        raise TrainInputError(
            f"{out_dir} holds a checkpoint of another model ({', '.join(differences)}); give another --out, "
            f"or delete {latest.parent} to start over"
        )
    model.load_state_dict(ckpt.load_weights(latest), strict=True)
    state = ckpt.load_state(latest)
    batches.load_state_dict(state["sampler"])
    return state


def _make_optimizer(model: nn.Module, tc: TrainConfig, fused: bool) -> tuple[torch.optim.Optimizer, LambdaLR]:
    """AdamW (decay on matrices only) with the warmup + cosine schedule over train.steps."""
    opt = torch.optim.AdamW(
        _param_groups(model, tc.weight_decay),
        lr=tc.lr,
        betas=(tc.beta1, tc.beta2),
        eps=tc.eps,
        fused=fused,
    )
    sched = LambdaLR(opt, lambda s: lr_factor(s, tc.warmup_steps, tc.steps, tc.min_lr_ratio))
    return opt, sched


def _restore_optimizer(
    state: dict, model: nn.Module, opt: torch.optim.Optimizer, sched: LambdaLR, fsdp: bool, info: D.DistInfo
) -> None:
    """Optimizer, scheduler and RNG state from a checkpoint, so the resumed run continues bit for bit.

    Checkpoints hold the optimizer state of one process (by parameter index); FSDP2 takes it by name."""
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


def _autocast(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """The forward pass's context: bf16 autocast, or nothing for fp32."""

    def amp() -> contextlib.AbstractContextManager:
        if precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    return amp


@dataclass
class _Window:
    """Sums over the steps since the last train log line, which reports their means and rates."""

    loss: torch.Tensor  # sum of the micro-batches' mean LM loss / accum (this rank)
    load: torch.Tensor  # tokens routed to each expert, [gates, experts], summed over ranks
    steps: int = 0
    wait: float = 0.0  # seconds spent waiting for batches
    t0: float = field(default_factory=time.perf_counter)  # reset after eval/checkpoints: not training time

    def restart(self) -> None:
        self.loss.zero_()
        self.load.zero_()
        self.steps, self.wait, self.t0 = 0, 0.0, time.perf_counter()


@dataclass
class _Run:
    """One training invocation: its data, model, optimizer and progress, and the steps it takes."""

    cfg: Config
    info: D.DistInfo
    out: Path
    log: RunLog
    ds: TokenDataset
    val: ValSet | None
    model: Transformer
    wrapped: nn.Module  # the DDP/FSDP2 wrapper (or the model itself)
    fwd: nn.Module  # `wrapped`, compiled when train.compile is set
    opt: torch.optim.Optimizer
    sched: LambdaLR
    fsdp: bool
    batches: TrainBatches
    counts: ParamCounts
    accum: int
    precision: str
    amp: Callable[[], contextlib.AbstractContextManager]
    peak: float
    peak_label: str
    stop: int  # the global step this invocation ends at
    step: int
    tokens_seen: int
    last: dict = field(default_factory=dict)  # the latest train log record
    last_val: dict = field(default_factory=dict)  # the latest evaluation

    @property
    def tc(self) -> TrainConfig:
        return self.cfg.train

    @property
    def ckpt_root(self) -> Path:
        return self.out / "checkpoints"

    @property
    def step_tokens(self) -> int:
        return self.tc.global_batch_size * self.ds.seq_len

    def log_start(self) -> None:
        """The run's setup in the log: device, precision, sizes and the FLOPs convention behind MFU."""
        counts, info = self.counts, self.info
        self.log.write(
            {
                "kind": "start",
                "step": self.step,
                "device": str(info.device),
                "world": info.world,
                "precision": self.precision,
                "params_total": counts.total,
                "params_active": counts.active,
                "flops_per_token": counts.per_token_flops,
                "flops_convention": "6*(active-embedding)+6*L*H*T*(d_qk+d_v) per token (PaLM, no causal discount)",
                "peak_flops_per_device": self.peak,
                "peak_source": self.peak_label,
                "grad_accum": self.accum,
            },
            f"[train] {info.device} x{info.world} {self.precision}: {counts.total / 1e6:.2f}M params, "
            f"{counts.active / 1e6:.2f}M active; peak {self.peak / 1e12:.1f} TFLOP/s ({self.peak_label}); "
            f"from step {self.step}",
        )

    def train_until_stop(self) -> None:
        """Steps until `stop`, logging, evaluating and checkpointing on their schedules (and at the end)."""
        tc = self.tc
        gates = self.model.gates()
        self.model.train()
        window = _Window(
            loss=torch.zeros((), device=self.info.device, dtype=torch.float64),
            load=torch.zeros(len(gates), self.cfg.model.n_routed_experts, device=self.info.device),
        )
        while self.step < self.stop:
            grad_norm = self._optimizer_step(window, gates)
            at_stop = self.step == self.stop
            if self.step % tc.log_every == 0 or at_stop:
                self._log_window(window, gates, grad_norm)
            if self.val is not None and ((tc.eval_every and self.step % tc.eval_every == 0) or at_stop):
                self._evaluate()
                window.t0 = time.perf_counter()  # eval time is not training throughput
            if (tc.checkpoint_every and self.step % tc.checkpoint_every == 0) or at_stop:
                self._save_checkpoint()
                window.t0 = time.perf_counter()

    def _optimizer_step(self, window: _Window, gates: list[Gate]) -> torch.Tensor:
        """One global batch: accumulate the micro-batches' gradients (all-reduced on the last only), clip,
        step the optimizer and schedule, then rebalance the routers. Returns the gradient norm."""
        tc, device = self.tc, self.info.device
        t0 = time.perf_counter()
        rows = self.batches.next()
        window.wait += time.perf_counter() - t0
        for i, micro in enumerate(rows.split(tc.micro_batch_size)):
            micro = micro.to(device, non_blocking=True)
            with _no_sync(self.wrapped, i == self.accum - 1), self.amp():
                loss, lm = self.fwd(micro[:, :-1], micro[:, 1:])
            (loss / self.accum).backward()
            window.loss += lm.double() / self.accum
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip or float("inf"))
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        self._balance_routers(window, gates)
        self.step += 1
        self.tokens_seen += self.step_tokens
        window.steps += 1
        return grad_norm

    @torch.no_grad()
    def _balance_routers(self, window: _Window, gates: list[Gate]) -> None:
        """Aux-loss-free balancing: nudge each router's expert bias against the step's load (summed over
        ranks, so every rank applies the same update), and add the load to the window."""
        load = torch.stack([g.load for g in gates]) if gates else window.load
        D.all_reduce_sum(load, self.info)
        for g, lg in zip(gates, load, strict=True):
            g.update_bias(lg, self.cfg.model.bias_update_rate)
            g.load.zero_()
        if gates:
            window.load += load

    def _log_window(self, window: _Window, gates: list[Gate], grad_norm: torch.Tensor) -> None:
        """The train record: mean loss over ranks and steps, throughput, MFU, data wait and router health."""
        info = self.info
        D.all_reduce_sum(window.loss, info)
        dt = time.perf_counter() - window.t0
        tps = window.steps * self.step_tokens / dt
        mean_loss = window.loss.item() / (window.steps * info.world)
        win_load = window.load
        load_ratio = (win_load.max(1).values / win_load.mean(1).clamp_min(1e-9)).tolist() if gates else []
        biases = torch.stack([g.expert_bias for g in gates]) if gates else torch.zeros(1)
        last = self.last = {
            "kind": "train",
            "step": self.step,
            "loss": mean_loss,
            "lr": self.sched.get_last_lr()[0],
            "grad_norm": float(grad_norm),
            "tokens_seen": self.tokens_seen,
            "tokens_per_s": tps,
            "mfu": self.counts.per_token_flops * tps / (self.peak * info.world),
            "data_wait_share": window.wait / dt,
            "expert_load_max_over_mean": load_ratio,
            "expert_load_max_over_mean_worst": max(load_ratio) if load_ratio else None,
            "dead_experts": int((win_load == 0).sum()) if gates else 0,
            "router_bias_min": float(biases.min()),
            "router_bias_max": float(biases.max()),
        }
        self.log.write(
            last,
            f"step {self.step:6d}/{self.stop} | loss {mean_loss:.4f} | lr {last['lr']:.2e} | gnorm "
            f"{last['grad_norm']:.3f} | {tps:,.0f} tok/s | MFU {100 * last['mfu']:.2f}% | wait "
            f"{100 * last['data_wait_share']:.1f}% | load max/mean {last['expert_load_max_over_mean_worst'] or 0:.2f}"
            f" | dead {last['dead_experts']} | bias [{last['router_bias_min']:+.3f}, "
            f"{last['router_bias_max']:+.3f}]",
        )
        window.restart()

    def _evaluate(self) -> None:
        """Val loss and bits per byte on the fixed val slice, logged at this step."""
        assert self.val is not None
        self.last_val = evaluate(
            self.model, self.val, self.tc.micro_batch_size, self.info.device, self.amp, self.info
        )
        self.log.write(
            {"kind": "val", "step": self.step, **self.last_val},
            f"step {self.step:6d} | val loss {self.last_val['val_loss']:.4f} | val bpb {self.last_val['val_bpb'] or 0:.4f}",
        )

    def _save_checkpoint(self) -> None:
        """Weights, config (with the data's special ids) and the exact resume state, written by rank 0."""
        info, ds = self.info, self.ds
        weights, opt_state = _full_state(self.model, self.opt, self.fsdp)
        if info.is_main:
            rng = {"torch": torch.get_rng_state()}
            if info.device.type == "cuda":
                rng["cuda"] = torch.cuda.get_rng_state(info.device)
            ckpt.save_checkpoint(
                self.ckpt_root,
                self.step,
                weights,
                {
                    **self.cfg.model_dump(mode="json"),
                    "data": {
                        "eos_id": ds.eos_id,
                        "bos_id": ds.bos_id,
                        "pad_id": ds.pad_id,
                        "seq_len": ds.seq_len,
                    },
                },
                {
                    "step": self.step,
                    "tokens_seen": self.tokens_seen,
                    "optimizer": opt_state,
                    "scheduler": self.sched.state_dict(),
                    "rng": rng,
                    "sampler": self.batches.state_dict(),
                    "world_size": info.world,
                },
                ds.tokenizer_path,
                self.tc.keep_checkpoints,
            )
        D.barrier(info)  # no rank moves on (or reports the latest checkpoint) before it is in place

    def finish(self, t_start: float) -> TrainResult:
        """The result (evaluating once if no step ran), the loss plot, and the end record."""
        if self.val is not None and not self.last_val:
            # Nothing ran (already at the stop step): still evaluate so the result carries figures.
            self.last_val = evaluate(
                self.model, self.val, self.tc.micro_batch_size, self.info.device, self.amp, self.info
            )
        plot = plot_losses(self.log.path, self.out / "loss_curve.svg") if self.info.is_main else None
        latest = ckpt.latest_checkpoint(self.ckpt_root)
        result = TrainResult(
            out_dir=str(self.out),
            checkpoint_dir=str(latest) if latest else None,
            step=self.step,
            tokens_seen=self.tokens_seen,
            final_loss=self.last.get("loss"),
            val_loss=self.last_val.get("val_loss"),
            val_bpb=self.last_val.get("val_bpb"),
            seconds=time.perf_counter() - t_start,
            log_path=str(self.log.path),
            plot_path=str(plot) if plot else None,
            total_params=self.counts.total,
            active_params=self.counts.active,
        )
        self.log.write(
            {"kind": "end", **asdict(result)},
            f"[train] done at step {self.step}; checkpoint {result.checkpoint_dir}",
        )
        return result


def _prepare(
    cfg: Config,
    tokens_dir: str,
    out: Path,
    info: D.DistInfo,
    log: RunLog,
    *,
    resume: bool,
    max_steps: int | None,
) -> _Run:
    """Data, model (resumed weights first), wrapper, optimizer (resumed state), precision and peak FLOPs.

    The order is the contract of exact resume: seed, init, load, then wrap (fully_shard swaps the
    parameters for sharded DTensors, and the optimizer must hold those), then the optimizer and RNG state."""
    tc = cfg.train
    from_tokens = frozenset(k for k in ("vocab_size", "max_seq_len") if getattr(cfg.model, k) is None)
    cfg, ds, val_ds, accum = _open_data(cfg, tokens_dir, info)
    latest = _checkpoint_to_resume(out / "checkpoints", resume)

    torch.manual_seed(tc.seed)
    model = Transformer(cfg.model)
    counts = count_params(model)
    batches = TrainBatches(ds, tc.global_batch_size, tc.seed, info.rank, info.world)
    state = _restore_model(latest, cfg, model, batches, from_tokens) if latest is not None else None
    model.to(info.device)

    fsdp = info.enabled and tc.parallel == "fsdp"
    wrapped = D.wrap(model, info, tc.parallel)
    opt, sched = _make_optimizer(model, tc, fused=info.device.type == "cuda")
    if state is not None:
        _restore_optimizer(state, model, opt, sched, fsdp, info)
    for dt in (torch.float32, torch.bfloat16):  # probe eagerly, outside any compiled graph
        grouped_mm_supported(info.device.type, dt)
    fwd = torch.compile(wrapped) if tc.compile else wrapped

    precision = tc.precision if tc.precision != "auto" else ("bf16" if info.device.type == "cuda" else "fp32")
    peak, peak_label = device_peak_flops(info.device, precision, tc.peak_flops)
    val = (  # the same rows under any world size (split over ranks), so val_loss compares across them
        ValSet(val_ds, tc.eval_batches * tc.micro_batch_size, info.rank, info.world)
        if val_ds is not None
        else None
    )
    return _Run(
        cfg=cfg,
        info=info,
        out=out,
        log=log,
        ds=ds,
        val=val,
        model=model,
        wrapped=wrapped,
        fwd=fwd,
        opt=opt,
        sched=sched,
        fsdp=fsdp,
        batches=batches,
        counts=counts,
        accum=accum,
        precision=precision,
        amp=_autocast(precision, info.device),
        peak=peak,
        peak_label=peak_label,
        stop=min(tc.steps, max_steps) if max_steps is not None else tc.steps,
        step=int(state["step"]) if state is not None else 0,
        tokens_seen=int(state["tokens_seen"]) if state is not None else 0,
    )
