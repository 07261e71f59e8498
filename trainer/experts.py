"""Dropless expert computation: tokens sorted by expert, then one grouped matmul over all experts.

`torch._grouped_mm` runs on CPU (fp32/bf16, torch ≥ 2.8) and on CUDA SM90+ (bf16); it needs 16-byte aligned
row strides. Where it does not run we fall back to a loop of per-expert matmuls over the same sorted layout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_SUPPORTED: dict[tuple[str, torch.dtype], bool] = {}


def grouped_mm_supported(device_type: str, dtype: torch.dtype) -> bool:
    """Probe once per (device, dtype); a plain dict lookup afterwards, which torch.compile treats as a
    constant (the trainer probes before compiling)."""
    key = (device_type, dtype)
    if key not in _SUPPORTED:
        _SUPPORTED[key] = _probe(device_type, dtype)
    return _SUPPORTED[key]


@torch.compiler.disable
def _probe(device_type: str, dtype: torch.dtype) -> bool:
    """The op exists, runs forward and backward, and agrees with matmul."""
    if not hasattr(torch, "_grouped_mm"):
        return False
    try:
        dev = torch.device(device_type)
        # A private generator: the probe runs once per process, after a resume restored the global
        # RNG, and must not move it (a checkpoint would then save another RNG state than a straight run).
        gen = torch.Generator(device=dev).manual_seed(0)
        x = torch.randn(24, 16, device=dev, dtype=dtype, generator=gen).requires_grad_()
        w = torch.randn(3, 16, 16, device=dev, dtype=dtype, generator=gen).requires_grad_()
        offs = torch.tensor([8, 8, 24], device=dev, dtype=torch.int32)
        y = torch._grouped_mm(x, w, offs=offs)
        y.backward(torch.ones_like(y))
        ref = torch.cat([x[:8] @ w[0], x[8:] @ w[2]])
        return bool(torch.allclose(y.float(), ref.float(), atol=1e-1, rtol=1e-2))
    except Exception:
        return False


def _aligned(*dims: int, dtype: torch.dtype) -> bool:
    return all((d * torch.empty((), dtype=dtype).element_size()) % 16 == 0 for d in dims)


def gmm_grouped(x: torch.Tensor, w: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    """x [N, K] sorted by group, w [G, K, M], offs [G] int32 cumulative ends → [N, M]."""
    return torch._grouped_mm(x, w, offs=offs)


def gmm_loop(x: torch.Tensor, w: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """The fallback: one matmul per non-empty group over the same sorted layout."""
    outs, start = [], 0
    for g, c in enumerate(counts):
        if c:
            outs.append(x[start : start + c] @ w[g])
        start += c
    if not outs:
        return x.new_zeros(0, w.shape[-1])
    return torch.cat(outs)


def expert_swiglu(
    x_sorted: torch.Tensor,
    counts: torch.Tensor,
    w1: torch.Tensor,
    w3: torch.Tensor,
    w2: torch.Tensor,
    impl: str = "auto",
) -> torch.Tensor:
    """SwiGLU experts on expert-sorted rows: w2ᵀ(silu(x w1) * (x w3)). w1,w3 [E, D, H]; w2 [E, H, D]."""
    dtype = x_sorted.dtype
    if impl == "auto":
        # torch 2.13's fake (compile-time) kernel accepts only bf16, although eager CPU runs fp32 too.
        use_grouped = (
            grouped_mm_supported(x_sorted.device.type, dtype)
            and _aligned(w1.shape[1], w1.shape[2], dtype=dtype)
            and (dtype == torch.bfloat16 or not torch.compiler.is_compiling())
        )
    else:
        use_grouped = impl == "grouped_mm"
    if use_grouped:
        offs = torch.cumsum(counts, 0, dtype=torch.int32)
        h = F.silu(gmm_grouped(x_sorted, w1, offs)) * gmm_grouped(x_sorted, w3, offs)
        return gmm_grouped(h, w2, offs)
    cl = counts.tolist()
    h = F.silu(gmm_loop(x_sorted, w1, cl)) * gmm_loop(x_sorted, w3, cl)
    return gmm_loop(h, w2, cl)
