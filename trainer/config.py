"""Trainer configuration: YAML → pydantic v2 models (extra="forbid", so a typo names the offending field)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kit.yaml_file import read_yaml_mapping


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class ModelConfig(_Strict):
    """A DeepSeek-V3-style decoder: MLA attention, first `n_dense_layers` dense, the rest MoE."""

    vocab_size: int | None = Field(None, description="None: taken from the tokens manifest")
    max_seq_len: int | None = Field(None, description="None: the dataset's seq_len")
    dim: int = Field(..., gt=0)
    n_layers: int = Field(..., gt=0)
    n_dense_layers: int = Field(1, ge=0)
    inter_dim: int = Field(..., gt=0, description="hidden size of the dense MLP layers")
    # MLA
    n_heads: int = Field(..., gt=0)
    q_lora_rank: int = Field(0, ge=0, description="0: full-rank query projection")
    kv_lora_rank: int = Field(..., gt=0)
    qk_nope_head_dim: int = Field(..., gt=0)
    qk_rope_head_dim: int = Field(..., gt=0)
    v_head_dim: int = Field(..., gt=0)
    rope_theta: float = Field(10000.0, gt=0)
    # MoE
    n_routed_experts: int = Field(..., gt=0)
    n_shared_experts: int = Field(1, ge=0)
    n_activated_experts: int = Field(..., gt=0)
    moe_inter_dim: int = Field(..., gt=0)
    n_expert_groups: int = Field(1, gt=0)
    n_limited_groups: int = Field(1, gt=0)
    route_scale: float = Field(1.0, gt=0)
    bias_update_rate: float = Field(1e-3, ge=0, description="aux-loss-free balancing step γ (0 disables)")
    seq_aux_loss_coef: float = Field(0.0, ge=0)
    router_z_loss_coef: float = Field(0.0, ge=0)
    expert_impl: Literal["auto", "grouped_mm", "loop"] = "auto"
    # MTP
    mtp_depth: int = Field(0, ge=0)
    mtp_loss_coef: float = Field(0.3, ge=0)
    init_std: float = Field(0.02, gt=0)
    norm_eps: float = Field(1e-6, gt=0)

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.n_activated_experts > self.n_routed_experts:
            raise ValueError("n_activated_experts must be <= n_routed_experts")
        if self.n_dense_layers > self.n_layers:
            raise ValueError("n_dense_layers must be <= n_layers")
        if self.n_routed_experts % self.n_expert_groups:
            raise ValueError("n_routed_experts must be divisible by n_expert_groups")
        if self.n_limited_groups > self.n_expert_groups:
            raise ValueError("n_limited_groups must be <= n_expert_groups")
        per_group = self.n_routed_experts // self.n_expert_groups
        if self.n_expert_groups > 1 and self.n_limited_groups * per_group < self.n_activated_experts:
            raise ValueError("n_limited_groups * experts per group must be >= n_activated_experts")
        if self.qk_rope_head_dim % 2:
            raise ValueError("qk_rope_head_dim must be even")
        return self


class TrainConfig(_Strict):
    """Optimisation, batching, precision, parallelism, evaluation, checkpointing and logging."""

    seed: int = 0
    steps: int = Field(..., gt=0, description="total optimizer steps (the schedule's length)")
    global_batch_size: int = Field(..., gt=0, description="rows (sequences) per optimizer step, all ranks")
    micro_batch_size: int = Field(..., gt=0, description="rows per forward/backward on one rank")
    lr: float = Field(..., gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.95, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    grad_clip: float = Field(1.0, ge=0, description="0 disables clipping")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 autocast on CUDA")
    compile: bool = False
    parallel: Literal["ddp", "fsdp"] = "ddp"
    eval_every: int = Field(0, ge=0, description="0: only at the end")
    eval_batches: int = Field(8, gt=0)
    checkpoint_every: int = Field(0, ge=0, description="0: only at the end")
    keep_checkpoints: int = Field(2, gt=0)
    log_every: int = Field(10, gt=0)
    verify_shards: bool = False
    peak_flops: float | None = Field(None, gt=0, description="per-device peak FLOP/s for MFU; None: table")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.global_batch_size % self.micro_batch_size:
            raise ValueError("global_batch_size must be a multiple of micro_batch_size")
        if self.warmup_steps > self.steps:
            raise ValueError("warmup_steps must be <= steps")
        return self


class Config(_Strict):
    model: ModelConfig
    train: TrainConfig


def load_config(path: str | Path) -> Config:
    """Read a YAML config; a validation error names the field path (e.g. `model.dim`), a file that is
    not a YAML mapping is a one-line `kit.yaml_file.YamlFileError`."""
    return Config.model_validate(read_yaml_mapping(path, "train config"))
