"""Process-group setup from torchrun's environment, and model wrapping (DDP or FSDP2)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup(device_pref: str) -> DistInfo:
    """Read RANK/WORLD_SIZE/LOCAL_RANK (set by torchrun); init NCCL on CUDA, gloo on CPU when world > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_pref == "cuda" or (device_pref == "auto" and torch.cuda.is_available())
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but torch.cuda.is_available() is False")
    if use_cuda:
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistInfo(rank=rank, world=world, local_rank=local, device=device)


def wrap(model: nn.Module, info: DistInfo, mode: str) -> nn.Module:
    """DDP (buffers not broadcast: each rank's expert load must stay its own until all-reduced) or FSDP2."""
    if not info.enabled:
        return model
    if mode == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for block in model.layers:  # type: ignore[attr-defined]
            fully_shard(block)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DDP(model, device_ids=ids, broadcast_buffers=False)


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def _param_names(model: nn.Module, opt: torch.optim.Optimizer) -> list[str]:
    """Optimizer parameter order (the integer ids of opt.state_dict()) as FQNs; fully_shard keeps the names."""
    names = {id(p): n for n, p in model.named_parameters()}
    return [names[id(p)] for g in opt.param_groups for p in g["params"]]


def optim_state_by_index(by_name: dict, model: nn.Module, opt: torch.optim.Optimizer) -> dict:
    """FQN-keyed optimizer state (torch.distributed.checkpoint's full state dict) → opt.state_dict() layout."""
    index = {n: i for i, n in enumerate(_param_names(model, opt))}
    return {
        "state": {index[n]: v for n, v in by_name["state"].items()},
        "param_groups": [{**g, "params": [index[n] for n in g["params"]]} for g in by_name["param_groups"]],
    }


def optim_state_by_name(by_index: dict, model: nn.Module, opt: torch.optim.Optimizer) -> dict:
    """opt.state_dict() layout → FQN-keyed, as set_optimizer_state_dict expects for an FSDP2 model."""
    names = _param_names(model, opt)
    return {
        "state": {names[int(i)]: v for i, v in by_index["state"].items()},
        "param_groups": [
            {**g, "params": [names[int(i)] for i in g["params"]]} for g in by_index["param_groups"]
        ],
    }


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


# How long a rank waits for the others before leaving the group anyway (a rank that failed never arrives).
TEARDOWN_WAIT_S = 60


def teardown(info: DistInfo) -> None:
    """Leave the process group together. Ranks reach the end at different times (rank 0 also draws the
    loss curve), and a gloo group that one rank destroys while another still uses it, or has moved on to
    a new group, can hang. On gloo a monitored barrier lines them up first: bounded, and it raises
    instead of hanging when a rank failed (the error that stopped that rank is reported on its own)."""
    if not (info.enabled and dist.is_initialized()):
        return
    if dist.get_backend() == "gloo":
        with contextlib.suppress(RuntimeError):
            dist.monitored_barrier(timeout=timedelta(seconds=TEARDOWN_WAIT_S))
    dist.destroy_process_group()
