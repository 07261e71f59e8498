"""MLA's absorbed decode against plain attention, and the router against a per-token reference.

The references are written out plainly here (expanded keys and values; a Python loop over tokens),
so they share no code path with trainer/model.py beyond the weights and `apply_rope`."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.config import ModelConfig
from trainer.model import MLA, Gate, LayerCache, apply_rope, rope_tables


def _cfg(**kw) -> ModelConfig:
    base = dict(
        vocab_size=97, max_seq_len=32, dim=32, n_layers=2, n_dense_layers=1, inter_dim=64, n_heads=4,
        q_lora_rank=16, kv_lora_rank=12, qk_nope_head_dim=8, qk_rope_head_dim=6, v_head_dim=10,
        n_routed_experts=16, n_shared_experts=1, n_activated_experts=3, moe_inter_dim=16,
        n_expert_groups=4, n_limited_groups=2, route_scale=2.5,
    )  # fmt: skip
    base.update(kw)
    return ModelConfig(**base)


def _random_mla(cfg: ModelConfig, seed: int) -> MLA:
    torch.manual_seed(seed)
    mla = MLA(cfg).eval()
    for p in mla.parameters():
        torch.nn.init.normal_(p, 0.0, 0.3)
    return mla


def _plain_attention(
    mla: MLA, x: torch.Tensor, start: int, latent: torch.Tensor, rope_key: torch.Tensor, rope_theta: float
) -> torch.Tensor:
    """Non-absorbed MLA: every cached latent expanded to per-head K = [W_UK c; k^R], V = W_UV c,
    then softmax(q·k / sqrt(d)) over positions <= the query's, then the output projection."""
    batch, n_new, _ = x.shape
    heads, dn, dv = mla.n_heads, mla.dn, mla.dv
    cos, sin = rope_tables(mla.dr, 64, rope_theta)
    q = (mla.wq_b(mla.q_norm(mla.wq_a(x))) if hasattr(mla, "wq_a") else mla.wq(x)).view(
        batch, n_new, heads, -1
    )
    q = torch.cat(
        [q[..., :dn], apply_rope(q[..., dn:], cos[start : start + n_new], sin[start : start + n_new])], -1
    )
    kv = mla.wkv_b(latent).view(batch, latent.shape[1], heads, dn + dv)
    k = torch.cat([kv[..., :dn], rope_key[:, :, None, :].expand(-1, -1, heads, -1)], dim=-1)
    v = kv[..., dn:]
    out = torch.zeros(batch, n_new, heads, dv)
    for t in range(n_new):
        visible = start + t + 1
        scores = torch.einsum("bhd,bshd->bhs", q[:, t], k[:, :visible]) / math.sqrt(dn + mla.dr)
        out[:, t] = torch.einsum("bhs,bshd->bhd", scores.softmax(dim=-1), v[:, :visible])
    return mla.wo(out.reshape(batch, n_new, heads * dv))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("q_lora_rank", [0, 16])
def test_absorbed_decode_equals_plain_attention_over_the_same_cache(batch, q_lora_rank):
    cfg = _cfg(q_lora_rank=q_lora_rank)
    mla = _random_mla(cfg, seed=batch)
    cos, sin = rope_tables(cfg.qk_rope_head_dim, 64, cfg.rope_theta)
    history = torch.randn(batch, 16, cfg.dim)
    cache = LayerCache(kv=torch.zeros(4, 32, cfg.kv_lora_rank), pe=torch.zeros(4, 32, cfg.qk_rope_head_dim))
    steps = [(0, 5), *((p, 1) for p in range(5, 12)), (12, 4)]  # prefill, single tokens, a chunk
    with torch.no_grad():
        for start, n_new in steps:
            x = history[:, start : start + n_new]
            got = mla(x, cos[start : start + n_new], sin[start : start + n_new], cache, start)
            end = start + n_new
            latent, rope_key = cache.kv[:batch, :end], cache.pe[:batch, :end]
            want = _plain_attention(mla, x, start, latent, rope_key, cfg.rope_theta)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        # the cache holds exactly the normalised latent and the roped shared key of every token so far
        lat, rk = mla.wkv_a(history).split([cfg.kv_lora_rank, cfg.qk_rope_head_dim], dim=-1)
        torch.testing.assert_close(cache.kv[:batch, :16], mla.kv_norm(lat))
        torch.testing.assert_close(
            cache.pe[:batch, :16], apply_rope(rk[:, :, None], cos[:16], sin[:16])[:, :, 0]
        )
        assert cache.kv[batch:].abs().sum() == 0 and cache.kv[:, 16:].abs().sum() == 0


def test_full_sequence_attention_equals_plain_attention():
    cfg = _cfg()
    mla = _random_mla(cfg, seed=5)
    cos, sin = rope_tables(cfg.qk_rope_head_dim, 64, cfg.rope_theta)
    x = torch.randn(2, 9, cfg.dim)
    with torch.no_grad():
        lat, rk = mla.wkv_a(x).split([cfg.kv_lora_rank, cfg.qk_rope_head_dim], dim=-1)
        want = _plain_attention(
            mla, x, 0, mla.kv_norm(lat), apply_rope(rk[:, :, None], cos[:9], sin[:9])[:, :, 0], cfg.rope_theta
        )
        torch.testing.assert_close(mla(x, cos[:9], sin[:9]), want, atol=1e-5, rtol=1e-4)


def _reference_route(
    affinity: torch.Tensor, bias: torch.Tensor, cfg: ModelConfig
) -> tuple[list[int], list[float], bool]:
    """One token, DeepSeek-V3 §2.1.2 step by step: biased scores, group strengths (sum of the two best),
    the strongest groups, top-K inside them (ties: lowest index), gate values = scaled normalised
    affinities. Returns the chosen experts, their gate values, and whether no tie sits at a cut (only
    then is the chosen set unique)."""
    biased = (affinity + bias).tolist()  # the same fp32 addition as the router
    size = cfg.n_routed_experts // cfg.n_expert_groups
    members = [list(range(g * size, (g + 1) * size)) for g in range(cfg.n_expert_groups)]
    strength = [float(torch.tensor(sorted(biased[e] for e in m)[-2:]).sum()) for m in members]
    groups = sorted(range(cfg.n_expert_groups), key=lambda g: -strength[g])
    allowed = [e for g in groups[: cfg.n_limited_groups] for e in members[g]]
    ranked = sorted(allowed, key=lambda e: -biased[e])
    chosen = ranked[: cfg.n_activated_experts]
    total = sum(float(affinity[e]) for e in chosen)
    gates = [cfg.route_scale * float(affinity[e]) / total for e in chosen]
    cuts = [(strength, groups, cfg.n_limited_groups), (biased, ranked, cfg.n_activated_experts)]
    decided = all(n == len(order) or values[order[n - 1]] != values[order[n]] for values, order, n in cuts)
    return chosen, gates, decided


@pytest.mark.parametrize(
    "groups, limit, k",
    [(1, 1, 3), (4, 2, 3), (4, 1, 2), (8, 3, 5), (16, 4, 4)],
)
def test_routing_equals_per_token_reference_including_ties(groups, limit, k):
    cfg = _cfg(n_expert_groups=groups, n_limited_groups=limit, n_activated_experts=k)
    torch.manual_seed(groups * 10 + k)
    gate = Gate(cfg)
    torch.nn.init.normal_(gate.weight, 0.0, 0.5)
    gate.weight.data[1] = gate.weight.data[0]  # ties inside a group
    gate.weight.data[9] = gate.weight.data[4]  # ties across groups
    gate.expert_bias.uniform_(-0.2, 0.2)
    gate.expert_bias[1] = gate.expert_bias[0]
    gate.expert_bias[9] = gate.expert_bias[4]
    x = torch.randn(300, cfg.dim)
    x[:10] = 0.0  # every affinity 0.5: only the bias separates experts
    for zero_bias in (False, True):
        if zero_bias:
            gate.expert_bias.zero_()  # now the zero rows tie everywhere, groups included
        with torch.no_grad():
            weights, chosen, affinity, _ = gate.route(x)
        want_affinity = torch.sigmoid(x.double() @ gate.weight.double().T).float()
        torch.testing.assert_close(affinity, want_affinity, atol=1e-6, rtol=1e-5)
        n_decided = 0
        for t in range(x.shape[0]):
            picked = chosen[t].tolist()
            assert len(set(picked)) == k
            want, want_gates, decided = _reference_route(affinity[t], gate.expert_bias, cfg)
            biased = (affinity[t] + gate.expert_bias).tolist()
            assert sorted(biased[e] for e in picked) == sorted(biased[e] for e in want), t
            torch.testing.assert_close(sorted(weights[t].tolist()), sorted(want_gates), atol=1e-6, rtol=1e-6)
            if decided:
                n_decided += 1
                assert set(picked) == set(want), t
        assert n_decided >= 250


def test_bias_changes_the_choice_but_never_the_gate_values():
    cfg = _cfg()
    torch.manual_seed(7)
    gate = Gate(cfg)
    torch.nn.init.normal_(gate.weight, 0.0, 0.5)
    x = torch.randn(200, cfg.dim)
    with torch.no_grad():
        w0, i0, s0, _ = gate.route(x)
        gate.expert_bias.fill_(0.375)  # the same shift for every expert: same choice, same values
        w1, i1, s1, _ = gate.route(x)
        assert torch.equal(i0, i1) and torch.equal(w0, w1) and torch.equal(s0, s1)
        rarest = int(torch.bincount(i0.flatten(), minlength=16).argmin())
        gate.expert_bias.zero_()
        gate.expert_bias[rarest] = 10.0  # now every token picks it
        w2, i2, s2, _ = gate.route(x)
    assert torch.equal(s2, s0)  # affinities never see the bias
    assert (i2 == rarest).any(dim=-1).all()
    assert not torch.equal(i2, i0)
    unbiased = s0.gather(1, i2)
    torch.testing.assert_close(w2, cfg.route_scale * unbiased / unbiased.sum(-1, keepdim=True))
    torch.testing.assert_close(w2.sum(-1), torch.full((200,), cfg.route_scale))
