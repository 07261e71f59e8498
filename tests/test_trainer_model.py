"""Model-level behaviour of the MoE trainer: expert dispatch, MLA cache, routing balance, configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from pydantic import ValidationError

from trainer.config import Config, ModelConfig, load_config
from trainer.experts import grouped_mm_supported
from trainer.model import Gate, MoE, Transformer, count_params

REPO = Path(__file__).resolve().parents[1]


def _cfg(**kw) -> ModelConfig:
    base = dict(
        vocab_size=97, max_seq_len=24, dim=32, n_layers=3, n_dense_layers=1, inter_dim=64, n_heads=4,
        q_lora_rank=16, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=8,
        n_routed_experts=8, n_shared_experts=1, n_activated_experts=2, moe_inter_dim=16,
        n_expert_groups=4, n_limited_groups=2,
    )  # fmt: skip
    base.update(kw)
    return ModelConfig(**base)


def _plain_loop(moe: MoE, x: torch.Tensor, weights: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Reference: for each expert, the tokens that chose it, no sorting, no grouped matmul."""
    y = torch.zeros_like(x)
    for e in range(moe.w1.shape[0]):
        tok, slot = (indices == e).nonzero(as_tuple=True)
        if tok.numel() == 0:
            continue
        h = torch.nn.functional.silu(x[tok] @ moe.w1[e]) * (x[tok] @ moe.w3[e])
        y = y.index_add(0, tok, (h @ moe.w2[e]) * weights[tok, slot, None])
    return y


def test_grouped_mm_runs_on_cpu_torch():
    # torch 2.13 CPU runs _grouped_mm for fp32 forward and backward; the trainer relies on this probe.
    assert grouped_mm_supported("cpu", torch.float32)


@pytest.mark.parametrize("skew", [False, True])
def test_grouped_mm_and_loop_fallback_equal_plain_per_expert_loop(skew):
    torch.manual_seed(0)
    moe = MoE(_cfg(n_expert_groups=1, n_limited_groups=1))
    for p in moe.parameters():
        torch.nn.init.normal_(p, 0, 0.2)
    x = torch.randn(50, 32)
    if skew:  # leave some experts empty: zero-size groups must work in every path
        moe.gate.expert_bias[:5] = -10.0
    weights, indices, _, _ = moe.gate.route(x)
    weights = weights.detach()
    if skew:
        assert set(indices.unique().tolist()) <= {5, 6, 7}
    results = {}
    for impl in ("grouped_mm", "loop", "plain"):
        xi = x.clone().requires_grad_()
        moe.zero_grad()
        y = (
            _plain_loop(moe, xi, weights, indices)
            if impl == "plain"
            else moe.routed(xi, weights, indices, impl)
        )
        y.backward(torch.ones_like(y) * 0.1 + torch.arange(32) * 0.01)
        results[impl] = (y.detach(), xi.grad, moe.w1.grad.clone(), moe.w2.grad.clone())
    for impl in ("grouped_mm", "loop"):
        for got, ref in zip(results[impl], results["plain"], strict=True):
            torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("batch, prefill", [(1, 1), (2, 7), (3, 1)])
@pytest.mark.parametrize("q_lora_rank", [0, 16])
def test_mla_cached_decode_equals_full_forward(q_lora_rank, batch, prefill):
    """Incremental decoding (absorbed attention over the latent cache, one token per call after the
    prefill; prefill 1 is token by token from position 0) gives the full forward's logits."""
    torch.manual_seed(1)
    model = Transformer(_cfg(q_lora_rank=q_lora_rank)).eval()
    for g in model.gates():
        g.expert_bias.uniform_(-0.05, 0.05)
    tokens = torch.randint(0, 97, (batch, 20))
    with torch.no_grad():
        full = model(tokens)
        cache = model.new_cache(batch, 24, tokens.device, torch.float32)
        parts = [model.forward_cached(tokens[:, :prefill], cache, 0)]
        parts += [model.forward_cached(tokens[:, t : t + 1], cache, t) for t in range(prefill, 20)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=2e-5, rtol=1e-4)
    # The cache holds only the latent and the rope key: (kv_lora_rank + rope dim) per token per layer.
    assert cache[0].kv.shape[-1] + cache[0].pe.shape[-1] == 16 + 8


def test_overloaded_expert_bias_decreases_and_balance_improves():
    torch.manual_seed(2)
    gate = Gate(_cfg(n_expert_groups=1, n_limited_groups=1)).train()
    torch.nn.init.normal_(gate.weight, 0, 0.02)
    gate.weight.data[0] += 0.5  # expert 0 attracts almost every token
    x = torch.randn(512, 32).abs()
    gate(x, batch=1)
    load = gate.load.clone()
    assert load[0] == load.max() and load[0] > 2 * load.mean()
    gate.update_bias(load, rate=0.01)
    assert gate.expert_bias[0] < 0
    assert (gate.expert_bias[load < load.mean()] > 0).all()

    def imbalance() -> float:
        gate.load.zero_()
        gate(x, batch=1)
        return float(gate.load.max() / gate.load.mean())

    before = imbalance()
    for _ in range(300):
        gate.load.zero_()
        gate(x, batch=1)
        gate.update_bias(gate.load, rate=0.01)
    after = imbalance()
    assert after < 0.5 * before and after < 2.0, (before, after)
    # The bias steers the choice only: the combine weights still come from the unbiased sigmoid scores.
    w, idx, scores, _ = gate.route(x[:4])
    torch.testing.assert_close(w, scores.gather(1, idx) / scores.gather(1, idx).sum(-1, keepdim=True))


def test_bias_is_a_checkpointed_buffer_and_load_is_not():
    model = Transformer(_cfg())
    sd = model.state_dict()
    assert any(k.endswith("gate.expert_bias") for k in sd)
    assert not any(k.endswith("gate.load") for k in sd)


def test_aux_losses_and_mtp_contribute_and_backprop():
    torch.manual_seed(3)
    tokens = torch.randint(0, 97, (2, 17))
    plain = Transformer(_cfg())
    extra = Transformer(_cfg(seq_aux_loss_coef=0.1, router_z_loss_coef=0.01, mtp_depth=1))
    missing, unexpected = extra.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("mtp.") for k in missing)
    lp, lm_p = plain(tokens[:, :-1], tokens[:, 1:])
    le, lm_e = extra(tokens[:, :-1], tokens[:, 1:])
    torch.testing.assert_close(lm_p, lm_e)  # same trunk init: same LM loss
    assert le > lp
    le.backward()
    assert extra.mtp[0].proj.weight.grad.abs().sum() > 0
    assert extra.layers[-1].ffn.gate.weight.grad.abs().sum() > 0


def test_config_files_validate_and_small_is_about_0_3b_active():
    tiny = load_config(REPO / "configs" / "moe-tiny.yaml")
    small = load_config(REPO / "configs" / "moe-small.yaml")
    assert tiny.model.n_layers > tiny.model.n_dense_layers
    m = small.model.model_copy(update={"vocab_size": 32768, "max_seq_len": 2048})
    with torch.device("meta"):
        counts = count_params(Transformer(m))
    print(f"moe-small: total {counts.total / 1e9:.3f}B, active {counts.active / 1e9:.3f}B (vocab 32768)")
    assert 0.25e9 <= counts.active <= 0.40e9
    assert counts.total > 3 * counts.active


def test_config_errors_name_the_field(tmp_path):
    raw = yaml.safe_load((REPO / "configs" / "moe-tiny.yaml").read_text())
    raw["model"]["n_experts"] = 8  # typo of n_routed_experts
    with pytest.raises(ValidationError, match=r"model\.n_experts"):
        Config.model_validate(raw)
    raw = yaml.safe_load((REPO / "configs" / "moe-tiny.yaml").read_text())
    raw["train"]["lr"] = "fast"
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValidationError, match=r"train\.lr"):
        load_config(p)
    with pytest.raises(ValidationError, match="n_activated_experts"):
        _cfg(n_activated_experts=9)
    with pytest.raises(ValidationError, match="global_batch_size"):
        Config.model_validate({**raw, "train": {**raw["train"], "lr": 1e-3, "global_batch_size": 12}})


def test_the_grouped_mm_probe_leaves_the_global_rng_alone() -> None:
    """The probe runs once per process, after a resume restored the RNG: it must not move it."""
    from trainer import experts

    before = torch.get_rng_state()
    experts._probe("cpu", torch.float32)
    assert torch.equal(before, torch.get_rng_state())
