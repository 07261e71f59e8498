"""Streaming generation from a checkpoint, decoding with MLA's latent KV cache (one token per forward)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from trainer import checkpoint as ckpt
from trainer.config import ModelConfig
from trainer.model import Transformer


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, device: str) -> tuple[Transformer, object, int | None]:
    from tokenizers import Tokenizer

    raw = ckpt.load_config_json(path)
    model = Transformer(ModelConfig.model_validate(raw["model"]))
    model.load_state_dict(ckpt.load_weights(path), strict=True)
    model.to(device).eval()
    tok = Tokenizer.from_file(str(Path(path) / ckpt.TOKENIZER))
    eos = raw.get("data", {}).get("eos_id")
    return model, tok, eos


def find_checkpoint(checkpoint_dir: str | Path) -> Path:
    """The step directory to load: `checkpoint_dir` itself, else the newest under it or its checkpoints/.

    Raises FileNotFoundError with a message a user can act on (the CLI prints it as one `error:` line).
    """
    p = Path(checkpoint_dir)
    if (p / ckpt.WEIGHTS).is_file():
        return p
    latest = ckpt.latest_checkpoint(p / "checkpoints") or ckpt.latest_checkpoint(p)
    if latest is not None:
        return latest
    why = "does not exist" if not p.exists() else f"holds no {ckpt.WEIGHTS} and no step-NNNNNNNN checkpoint"
    raise FileNotFoundError(
        f"no checkpoint at {p}: it {why} — give the --out directory of `winnow train` "
        "(`make train` writes runs/default/train), its checkpoints/ or one step-NNNNNNNN directory"
    )


def load_model(
    checkpoint_dir: str | Path, device: str | None = None
) -> tuple[Transformer, object, int | None]:
    """(model in eval mode, tokenizer, eos id); cached per checkpoint so a server does not reload per request.
    `checkpoint_dir` may be a step-NNNNNNNN dir, a checkpoints/ dir or a training out dir (newest is used)."""
    p = find_checkpoint(checkpoint_dir)
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return _load(str(p.resolve()), (p / ckpt.WEIGHTS).stat().st_mtime_ns, dev)


def sample_next(logits: torch.Tensor, temperature: float, top_k: int | None, gen: torch.Generator) -> int:
    """Greedy when temperature <= 0; otherwise softmax(logits / T) restricted to the top k."""
    logits = logits.float()
    if temperature <= 0:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=gen))


@torch.no_grad()
def generate(
    checkpoint_dir: str,
    prompt: str,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    seed: int,
    stop: Callable[[str], bool] | None = None,
    device: str | None = None,
    generated: list[int] | None = None,
) -> Iterator[str]:
    """Yield decoded text pieces as they become valid UTF-8; stops at EOS, max_new_tokens, the context limit,
    or when stop(text generated so far) returns True (a guard can halt decoding mid-stream).
    `generated`, when given, receives every token id sampled (EOS excluded): the exact count a
    caller reports, which re-encoding the text would not give."""
    model, tok, eos = load_model(checkpoint_dir, device)
    dev = model.embed.weight.device
    max_len = model.cfg.max_seq_len
    assert max_len is not None
    ids = tok.encode(prompt).ids[-(max_len - 1) :] if prompt else []
    if not ids:
        ids = [eos if eos is not None else 0]
    gen = torch.Generator(device=dev).manual_seed(seed)
    cache = model.new_cache(1, max_len, dev, model.embed.weight.dtype)
    logits = model.forward_cached(torch.tensor([ids], device=dev), cache, 0)[0, -1]
    pos = len(ids)
    out: list[int] = []
    emitted = ""
    for _ in range(max_new_tokens):
        nxt = sample_next(logits, temperature, top_k, gen)
        if eos is not None and nxt == eos:
            break
        out.append(nxt)
        if generated is not None:
            generated.append(nxt)
        text = tok.decode(out)
        if not text.endswith("\ufffd") and text.startswith(emitted) and len(text) > len(emitted):
            piece, emitted = text[len(emitted) :], text
            yield piece
            if stop is not None and stop(emitted):
                return
        if pos >= max_len:
            break
        logits = model.forward_cached(torch.tensor([[nxt]], device=dev), cache, pos)[0, -1]
        pos += 1
    text = tok.decode(out)
    if text.startswith(emitted) and len(text) > len(emitted):
        yield text[len(emitted) :]
