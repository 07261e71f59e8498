"""The trainer on a CUDA device (bf16): run by benchmarks/gpu_check.sh on a GPU machine; skipped without one."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from tests.unigram import unigram_entropy_bits
from trainer.config import ModelConfig
from trainer.data import open_split
from trainer.experts import grouped_mm_supported
from trainer.model import MoE, Transformer
from trainer.train import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
REPO = Path(__file__).resolve().parents[1]


def _cfg(**kw) -> ModelConfig:
    base = dict(
        vocab_size=512, max_seq_len=64, dim=128, n_layers=2, n_dense_layers=1, inter_dim=256, n_heads=4,
        q_lora_rank=64, kv_lora_rank=64, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32,
        n_routed_experts=16, n_shared_experts=1, n_activated_experts=4, moe_inter_dim=64,
    )  # fmt: skip
    base.update(kw)
    return ModelConfig(**base)


def _per_expert_reference(
    moe: MoE, x: torch.Tensor, weights: torch.Tensor, indices: torch.Tensor
) -> torch.Tensor:
    """fp32, no sorting and no grouped matmul: for each expert, the tokens that chose it."""
    y = torch.zeros_like(x)
    for e in range(moe.w1.shape[0]):
        tok, slot = (indices == e).nonzero(as_tuple=True)
        h = torch.nn.functional.silu(x[tok] @ moe.w1[e]) * (x[tok] @ moe.w3[e])
        y = y.index_add(0, tok, (h @ moe.w2[e]) * weights[tok, slot, None])
    return y


def test_every_bf16_expert_path_matches_an_fp32_reference_on_cuda():
    """The path training takes ("auto"), the loop fallback and, where the probe accepts it, grouped_mm:
    each is compared, so the test cannot pass without comparing whatever the device supports."""
    supported = grouped_mm_supported("cuda", torch.bfloat16)
    if torch.cuda.get_device_capability() >= (9, 0):
        assert supported, "torch._grouped_mm should run in bf16 on SM90+"
    torch.manual_seed(0)
    moe = MoE(_cfg()).cuda()
    for p in moe.parameters():
        torch.nn.init.normal_(p, 0, 0.05)
    x = torch.randn(1000, 128, device="cuda")
    with torch.no_grad():
        w, idx, _, _ = moe.gate.route(x)
        ref = _per_expert_reference(moe, x, w, idx)
        for impl in ("auto", "loop", *(("grouped_mm",) if supported else ())):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                got = moe.routed(x, w, idx, impl).float()
            torch.testing.assert_close(got, ref, atol=2e-2, rtol=5e-2, msg=lambda m, i=impl: f"{i}: {m}")


def test_cached_decode_equals_full_forward_on_cuda():
    torch.manual_seed(1)
    model = Transformer(_cfg()).cuda().eval()
    tokens = torch.randint(0, 512, (2, 40), device="cuda")
    with torch.no_grad():
        full = model(tokens)
        cache = model.new_cache(2, 64, tokens.device, torch.float32)
        parts = [model.forward_cached(tokens[:, :10], cache, 0)]
        parts += [model.forward_cached(tokens[:, t : t + 1], cache, t) for t in range(10, 40)]
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-3, rtol=1e-3)  # TF32 matmuls allowed


def test_tiny_trains_on_cuda_bf16(shakespeare_tokens, tmp_path):
    tokens = shakespeare_tokens(tmp_path / "tokens", 300_000)
    raw = yaml.safe_load((REPO / "configs" / "moe-tiny.yaml").read_text())
    raw["train"].update(device="cuda", precision="bf16")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    res = train(str(cfg), str(tokens), str(tmp_path / "out"))
    h = unigram_entropy_bits(open_split(tokens, "train")) * math.log(2)
    assert res.val_loss < h - 1.0, (res.val_loss, h)
