"""A DeepSeek-V3-style decoder, small enough to read: MLA attention, fine-grained + shared experts,
sigmoid top-k routing with aux-loss-free balancing, first k layers dense, optional multi-token prediction.

The code is written from the DeepSeek-V2 (MLA) and DeepSeek-V3 (routing, MTP) papers' equations, after
reading nanoGPT's model.py. Its names are not ours: the module names (`wq_a`, `wq_b`, `q_norm`, `wkv_a`,
`wkv_b`, `kv_norm`, ...), the config fields (`n_routed_experts`, `n_activated_experts`, `n_expert_groups`,
`n_limited_groups`, `route_scale`, `q_lora_rank`, `kv_lora_rank`, `qk_nope_head_dim`, ...) and the gate's
`n_groups`/`topk_groups` follow DeepSeek-V3's released inference code (deepseek-ai/DeepSeek-V3,
`inference/model.py`, MIT licence), so these modules' parameters carry that code's names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trainer.config import ModelConfig
from trainer.experts import expert_swiglu


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The weight in x's dtype: under bf16 autocast a mismatch makes torch skip its fused kernel.
        return F.rms_norm(x, (x.shape[-1],), self.weight.to(x.dtype), self.eps)


def rope_tables(dim: int, max_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [max_len, dim/2] for the rotate-half RoPE convention."""
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    ang = torch.outer(torch.arange(max_len, dtype=torch.float64), inv)
    return ang.cos().float(), ang.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, T, H, d]; cos/sin [T, d/2]. Computed in fp32, returned in x's dtype."""
    d = x.shape[-1] // 2
    xf = x.float()
    x1, x2 = xf[..., :d], xf[..., d:]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1).to(x.dtype)


@dataclass
class LayerCache:
    """MLA's decode cache: the normalised KV latent and the shared rope key, not per-head K/V."""

    kv: torch.Tensor  # [B, S, kv_lora_rank]
    pe: torch.Tensor  # [B, S, qk_rope_head_dim]


class MLA(nn.Module):
    """Multi-head latent attention (DeepSeek-V2 §2.1). Keys and values are both read from one low-rank
    latent per token, c_KV = W_DKV h (eq. 9), expanded per head as K^C = W_UK c_KV and V^C = W_UV c_KV
    (eq. 10-11); position rides on a separate RoPE key k^R = RoPE(W_KR h), one per token, shared by all
    heads (§2.1.3, eq. 14-15). Module names follow DeepSeek-V3's released inference code (MIT; see the
    module docstring): `wkv_a` holds [W_DKV; W_KR], `wkv_b` holds [W_UK; W_UV] head by head, `wq_a`/`wq_b`
    the low-rank query (eq. 12)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.dn, self.dr, self.dv = cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim
        self.dqk = self.dn + self.dr
        self.rank = cfg.kv_lora_rank
        self.scale = self.dqk**-0.5
        if cfg.q_lora_rank > 0:
            self.wq_a = nn.Linear(cfg.dim, cfg.q_lora_rank, bias=False)
            self.q_norm = RMSNorm(cfg.q_lora_rank, cfg.norm_eps)
            self.wq_b = nn.Linear(cfg.q_lora_rank, self.n_heads * self.dqk, bias=False)
        else:
            self.wq = nn.Linear(cfg.dim, self.n_heads * self.dqk, bias=False)
        self.wkv_a = nn.Linear(cfg.dim, self.rank + self.dr, bias=False)
        self.kv_norm = RMSNorm(self.rank, cfg.norm_eps)
        self.wkv_b = nn.Linear(self.rank, self.n_heads * (self.dn + self.dv), bias=False)
        self.wo = nn.Linear(self.n_heads * self.dv, cfg.dim, bias=False)

    def queries(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-head query halves [B, T, H, ·]: q^C (content) and RoPE'd q^R (DeepSeek-V2 eq. 12-14)."""
        flat = self.wq_b(self.q_norm(self.wq_a(x))) if hasattr(self, "wq_a") else self.wq(x)
        content, rotary = flat.unflatten(-1, (self.n_heads, self.dqk)).split([self.dn, self.dr], dim=-1)
        return content, apply_rope(rotary, cos, sin)

    def latent_and_rope_key(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """What the cache keeps per token: c_KV [B, T, rank] (normalised) and k^R [B, T, dr]."""
        latent, rope_key = self.wkv_a(x).split([self.rank, self.dr], dim=-1)
        return self.kv_norm(latent), apply_rope(rope_key.unsqueeze(2), cos, sin).squeeze(2)

    def up_projections(self) -> tuple[torch.Tensor, torch.Tensor]:
        """W_UK [H, dn, rank] and W_UV [H, dv, rank], views of `wkv_b`'s weight."""
        per_head = self.wkv_b.weight.unflatten(0, (self.n_heads, self.dn + self.dv))
        return per_head[:, : self.dn], per_head[:, self.dn :]

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: LayerCache | None = None,
        start_pos: int = 0,
    ) -> torch.Tensor:
        """x [B, T, D] → [B, T, D]. Without a cache: causal attention over x itself, with expanded K/V.
        With a cache: x sits at positions start_pos.., its latents are appended, attention is absorbed."""
        q_content, q_rotary = self.queries(x, cos, sin)
        latent, rope_key = self.latent_and_rope_key(x, cos, sin)
        if cache is None:
            heads = self._expanded_attention(q_content, q_rotary, latent, rope_key)
        else:
            latent, rope_key = _append_to_cache(cache, latent, rope_key, start_pos)
            heads = self._absorbed_attention(q_content, q_rotary, latent, rope_key, start_pos)
        return self.wo(heads.flatten(2))

    def _expanded_attention(
        self, q_content: torch.Tensor, q_rotary: torch.Tensor, latent: torch.Tensor, rope_key: torch.Tensor
    ) -> torch.Tensor:
        """Training path: k_i = [K^C_i; k^R], q_i = [q^C_i; q^R_i], v_i = V^C_i (eq. 16-18). Returns [B, T, H, dv]."""
        expanded = self.wkv_b(latent).unflatten(-1, (self.n_heads, self.dn + self.dv))
        k_content, values = expanded.split([self.dn, self.dv], dim=-1)
        shared_rope = rope_key.unsqueeze(2).expand(-1, -1, self.n_heads, -1)
        q = torch.cat([q_content, q_rotary], dim=-1).transpose(1, 2)
        k = torch.cat([k_content, shared_rope], dim=-1).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, values.transpose(1, 2), is_causal=True, scale=self.scale)
        return out.transpose(1, 2)

    def _absorbed_attention(
        self,
        q_content: torch.Tensor,
        q_rotary: torch.Tensor,
        latent: torch.Tensor,
        rope_key: torch.Tensor,
        start_pos: int,
    ) -> torch.Tensor:
        """Decode path over the cached latents without expanding them (DeepSeek-V2 §2.1.2): since
        q^C·K^C = (W_UK^T q^C)·c_KV, W_UK is absorbed into the query, and since V^C = W_UV c_KV, the
        attention-weighted latent is lifted by W_UV only once per query. Queries [B, T, H, ·] at positions
        start_pos.., latent [B, S, rank], rope_key [B, S, dr]; returns [B, T, H, dv]."""
        up_key, up_value = self.up_projections()
        q_in_latent = q_content.transpose(1, 2) @ up_key.unsqueeze(0)  # [B, H, T, rank]
        q_rope = q_rotary.transpose(1, 2)  # [B, H, T, dr]
        logits = q_in_latent @ latent.unsqueeze(1).mT + q_rope @ rope_key.unsqueeze(1).mT
        logits = logits.float() * self.scale
        future = _future_mask(start_pos, logits.shape[-2], logits.shape[-1], logits.device)
        weights = logits.masked_fill(future, float("-inf")).softmax(dim=-1).to(latent.dtype)
        latent_mix = weights @ latent.unsqueeze(1)  # [B, H, T, rank]
        return (latent_mix @ up_value.mT.unsqueeze(0)).transpose(1, 2)


def _append_to_cache(
    cache: LayerCache, latent: torch.Tensor, rope_key: torch.Tensor, start_pos: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Write the new tokens' latents at start_pos.. and return every cached position up to them."""
    batch, end = latent.shape[0], start_pos + latent.shape[1]
    cache.kv[:batch, start_pos:end] = latent.to(cache.kv.dtype)
    cache.pe[:batch, start_pos:end] = rope_key.to(cache.pe.dtype)
    return cache.kv[:batch, :end], cache.pe[:batch, :end]


def _future_mask(start_pos: int, n_queries: int, n_keys: int, device: torch.device) -> torch.Tensor:
    """True where key position > query position; queries sit at start_pos.., keys at 0.."""
    query_pos = torch.arange(start_pos, start_pos + n_queries, device=device)
    return torch.arange(n_keys, device=device)[None, :] > query_pos[:, None]


class MLP(nn.Module):
    """SwiGLU feed-forward, used for dense layers and the shared experts."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Gate(nn.Module):
    """Sigmoid top-k router. `expert_bias` only steers the choice (never the weights) and is nudged from the
    observed load outside autograd (aux-loss-free balancing); it is a persistent buffer, so checkpoints keep it.
    `load` accumulates routed-token counts between optimizer steps (not saved)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_experts, self.topk = cfg.n_routed_experts, cfg.n_activated_experts
        self.n_groups, self.topk_groups = cfg.n_expert_groups, cfg.n_limited_groups
        self.route_scale = cfg.route_scale
        self.seq_aux_coef, self.z_coef = cfg.seq_aux_loss_coef, cfg.router_z_loss_coef
        self.weight = nn.Parameter(torch.empty(cfg.n_routed_experts, cfg.dim))
        self.register_buffer("expert_bias", torch.zeros(cfg.n_routed_experts), persistent=True)
        self.register_buffer("load", torch.zeros(cfg.n_routed_experts), persistent=False)

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [N, D] → (gate values g [N, K] fp32, chosen experts [N, K], affinities s [N, E], logits u·e [N, E]).

        DeepSeek-V3 §2.1: s_i = sigmoid(u^T e_i); the K experts are the top-K of s_i + b_i,
        where b is `expert_bias` and only ever steers the choice (§2.1.2, auxiliary-loss-free load balancing);
        the gate values are the chosen s_i normalised to sum 1, times `route_scale`."""
        logits = F.linear(x.float(), self.weight.float())
        affinity = torch.sigmoid(logits)
        chosen = self._choose_experts(affinity + self.expert_bias)
        return self._gate_values(affinity, chosen), chosen, affinity, logits

    def _choose_experts(self, biased: torch.Tensor) -> torch.Tensor:
        """Top-K of the biased affinities [N, E], among the allowed groups when routing is group-limited."""
        if self.n_groups > 1:
            biased = self._outside_top_groups_excluded(biased)
        return torch.topk(biased, self.topk, dim=-1).indices

    def _outside_top_groups_excluded(self, biased: torch.Tensor) -> torch.Tensor:
        """Node-limited routing (DeepSeek-V3 §2.1.2): experts form `n_groups` equal groups; a group's strength
        is the sum of its two highest biased affinities (the paper's K_r/M with its K_r=8, M=4), and experts
        outside the `topk_groups` strongest groups get -inf so top-K cannot pick them."""
        by_group = biased.unflatten(-1, (self.n_groups, -1))  # [N, G, E/G]
        best_two = torch.topk(by_group, min(2, by_group.shape[-1]), dim=-1).values
        strongest = torch.topk(best_two.sum(dim=-1), self.topk_groups, dim=-1).indices  # [N, M]
        allowed = torch.zeros(by_group.shape[:2], dtype=torch.bool, device=biased.device)
        allowed.scatter_(-1, strongest, True)
        return by_group.masked_fill(~allowed.unsqueeze(-1), float("-inf")).flatten(-2)

    def _gate_values(self, affinity: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """g_i = route_scale · s_i / Σ_{j chosen} s_j over the chosen experts (no bias in the values)."""
        picked = torch.gather(affinity, -1, chosen)
        return self.route_scale * (picked / picked.sum(dim=-1, keepdim=True))

    def forward(self, x: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        weights, indices, scores, logits = self.route(x)
        aux = x.new_zeros((), dtype=torch.float32)
        if self.training:
            with torch.no_grad():
                self.load += torch.bincount(indices.flatten(), minlength=self.n_experts).to(self.load.dtype)
            if self.seq_aux_coef > 0:
                # DeepSeek-V3 sequence-wise balance loss: sum_i f_i * P_i per sequence, averaged.
                T = x.shape[0] // batch
                p = (scores / scores.sum(-1, keepdim=True)).view(batch, T, -1).mean(1)
                f = torch.zeros_like(p).scatter_add_(
                    1, indices.view(batch, -1), torch.ones_like(indices.view(batch, -1), dtype=p.dtype)
                )
                f = f * (self.n_experts / (self.topk * T))
                aux = aux + self.seq_aux_coef * (f * p).sum(-1).mean()
            if self.z_coef > 0:
                aux = aux + self.z_coef * torch.logsumexp(logits, dim=-1).square().mean()
        return weights, indices, aux

    @torch.no_grad()
    def update_bias(self, load: torch.Tensor, rate: float) -> None:
        """Overloaded experts get a lower bias, underloaded a higher one (sign rule from DeepSeek-V3)."""
        self.expert_bias += rate * torch.sign(load.float().mean() - load.float())


class MoE(nn.Module):
    """Routed SwiGLU experts (dropless: sort by expert, grouped matmul) plus always-on shared experts."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        E, D, H = cfg.n_routed_experts, cfg.dim, cfg.moe_inter_dim
        self.topk, self.impl = cfg.n_activated_experts, cfg.expert_impl
        self.gate = Gate(cfg)
        self.w1 = nn.Parameter(torch.empty(E, D, H))
        self.w3 = nn.Parameter(torch.empty(E, D, H))
        self.w2 = nn.Parameter(torch.empty(E, H, D))
        self.shared = MLP(D, cfg.n_shared_experts * H) if cfg.n_shared_experts > 0 else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B = x.shape[0]
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        weights, indices, aux = self.gate(x, B)
        y = self.routed(x, weights, indices)
        if self.shared is not None:
            y = y + self.shared(x)
        return y.view(shape), aux

    def routed(
        self, x: torch.Tensor, weights: torch.Tensor, indices: torch.Tensor, impl: str | None = None
    ) -> torch.Tensor:
        """Sort the (token, expert) pairs by expert, run all experts at once, unsort, combine with weights."""
        N, K = indices.shape
        w1, w3, w2 = self.w1, self.w3, self.w2
        dev = x.device.type
        if torch.is_autocast_enabled(dev):
            dt = torch.get_autocast_dtype(dev)
            x, w1, w3, w2 = x.to(dt), w1.to(dt), w3.to(dt), w2.to(dt)
        flat = indices.flatten()
        order = torch.argsort(flat, stable=True)
        counts = torch.bincount(flat, minlength=w1.shape[0])
        ys = expert_swiglu(x[order // K], counts, w1, w3, w2, impl or self.impl)
        inv = torch.empty_like(order)
        inv[order] = torch.arange(order.numel(), device=order.device)
        ys = ys[inv].view(N, K, -1)
        return (ys * weights.unsqueeze(-1).to(ys.dtype)).sum(dim=1)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, moe: bool) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = MLA(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn: nn.Module = MoE(cfg) if moe else MLP(cfg.dim, cfg.inter_dim)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: LayerCache | None = None,
        start_pos: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = x + self.attn(self.attn_norm(x), cos, sin, cache, start_pos)
        h = self.ffn(self.ffn_norm(x))
        if isinstance(h, tuple):
            h, aux = h
        else:
            aux = x.new_zeros((), dtype=torch.float32)
        return x + h, aux


class MTPModule(nn.Module):
    """One multi-token-prediction depth: combine the previous depth's hidden state with the embedding of the
    next token, run one block, and predict one token further (DeepSeek-V3 §2.2; shared embedding and head)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.h_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.e_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.proj = nn.Linear(2 * cfg.dim, cfg.dim, bias=False)
        self.block = Block(cfg, moe=cfg.n_layers > cfg.n_dense_layers)


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size is None or cfg.max_seq_len is None:
            raise ValueError("vocab_size and max_seq_len must be resolved before building the model")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg, moe=i >= cfg.n_dense_layers) for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.mtp = nn.ModuleList(MTPModule(cfg) for _ in range(cfg.mtp_depth))
        cos, sin = rope_tables(cfg.qk_rope_head_dim, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Normal(0, std) everywhere; residual-output projections scaled by 1/sqrt(2·layers) (GPT-2)."""
        std = self.cfg.init_std
        out_std = std / math.sqrt(2 * self.cfg.n_layers)
        for name, p in self.named_parameters():
            if p.dim() == 1:
                continue
            is_out = name.endswith(("wo.weight", "w2.weight", ".w2"))
            nn.init.normal_(p, 0.0, out_std if is_out else std)
        for m in self.modules():
            if isinstance(m, RMSNorm):
                m.weight.fill_(1.0)
            if isinstance(m, Gate):
                m.expert_bias.zero_()
                m.load.zero_()

    def gates(self) -> list[Gate]:
        return [m for m in self.modules() if isinstance(m, Gate)]

    def forward(
        self, tokens: torch.Tensor, targets: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """tokens [B, T]. Without targets: logits [B, T, V]. With targets: (loss to backprop, LM loss)."""
        T = tokens.shape[1]
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        h = self.embed(tokens)
        aux = h.new_zeros((), dtype=torch.float32)
        for layer in self.layers:
            h, a = layer(h, cos, sin)
            aux = aux + a
        logits = self.head(self.norm(h))
        if targets is None:
            return logits
        lm = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
        loss = lm + aux
        if len(self.mtp):
            loss = loss + self._mtp_loss(h, targets)
        return loss, lm.detach()

    def _mtp_loss(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Depth k predicts targets[t + k] from position t; the loss is the mean over depths times λ."""
        T = h.shape[1]
        total = h.new_zeros((), dtype=torch.float32)
        for k, mod in enumerate(self.mtp, start=1):
            n = T - k
            emb = self.embed(targets[:, k - 1 : k - 1 + n])
            h = mod.proj(torch.cat([mod.h_norm(h[:, :n]), mod.e_norm(emb)], dim=-1))
            h, a = mod.block(h, self.rope_cos[:n], self.rope_sin[:n])
            logits = self.head(self.norm(h))
            ce = F.cross_entropy(logits.float().flatten(0, 1), targets[:, k : k + n].flatten())
            total = total + ce + a
        return self.cfg.mtp_loss_coef * total / len(self.mtp)

    def new_cache(
        self, batch: int, max_len: int, device: torch.device, dtype: torch.dtype
    ) -> list[LayerCache]:
        c = self.cfg
        return [
            LayerCache(
                kv=torch.zeros(batch, max_len, c.kv_lora_rank, device=device, dtype=dtype),
                pe=torch.zeros(batch, max_len, c.qk_rope_head_dim, device=device, dtype=dtype),
            )
            for _ in self.layers
        ]

    @torch.no_grad()
    def forward_cached(self, tokens: torch.Tensor, cache: list[LayerCache], start_pos: int) -> torch.Tensor:
        """Logits for `tokens` placed at positions start_pos.., reading and extending the latent cache."""
        T = tokens.shape[1]
        cos, sin = self.rope_cos[start_pos : start_pos + T], self.rope_sin[start_pos : start_pos + T]
        h = self.embed(tokens)
        for layer, lc in zip(self.layers, cache, strict=True):
            h, _ = layer(h, cos, sin, lc, start_pos)
        return self.head(self.norm(h))


@dataclass(frozen=True)
class ParamCounts:
    total: int
    active: int
    embedding: int
    per_token_flops: float  # training FLOPs per token at the configured sequence length


def count_params(model: Transformer) -> ParamCounts:
    """Active = total minus the routed experts a token does not visit. FLOPs convention (PaLM appendix B):
    6·(active − input embedding) per token for matmuls + 6·L·H·T·(d_qk + d_v) for attention scores and
    values (no causal discount), L counting MTP blocks too."""
    c = model.cfg
    total = sum(p.numel() for p in model.parameters())
    moes = [m for m in model.modules() if isinstance(m, MoE)]
    per_expert = 3 * c.dim * c.moe_inter_dim
    inactive = len(moes) * (c.n_routed_experts - c.n_activated_experts) * per_expert
    active = total - inactive
    emb = model.embed.weight.numel()
    n_attn = c.n_layers + c.mtp_depth
    assert c.max_seq_len is not None
    attn = 6 * n_attn * c.n_heads * c.max_seq_len * (c.qk_nope_head_dim + c.qk_rope_head_dim + c.v_head_dim)
    return ParamCounts(total=total, active=active, embedding=emb, per_token_flops=6.0 * (active - emb) + attn)
