"""Byte-level BPE training and loading with Hugging Face ``tokenizers``.

Byte-level pre-tokenization and decoding mean every UTF-8 string is encodable without ``<unk>``
and ``decode(encode(x)) == x``; special tokens are resolved by name so loaded tokenizers work too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from tokenization.config import TokenizeConfig, TokenizerConfig
from tokenization.errors import EmptyCorpusError, TokenizeInputError


@dataclass(frozen=True)
class SpecialIds:
    """Ids of the special tokens the packer uses (``bos`` only inserted when ``add_bos``)."""

    eos: int
    bos: int | None
    pad: int | None
    add_bos: bool


def _tok_cfg(config: TokenizeConfig | TokenizerConfig) -> TokenizerConfig:
    return config.tokenizer if isinstance(config, TokenizeConfig) else config


def train_tokenizer(texts: Iterable[str], config: TokenizeConfig | TokenizerConfig) -> Tokenizer:
    """Train a byte-level BPE on ``texts`` with the configured vocabulary size and special tokens.

    Special tokens get the first ids (bos, eos, pad order) so they are stable across corpora.
    """
    cfg = _tok_cfg(config)
    specials = [t for t in (cfg.bos_token, cfg.eos_token, cfg.pad_token) if t is not None]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    seen = False

    def _texts() -> Iterable[str]:
        nonlocal seen
        for t in texts:
            if t:
                seen = True
                yield t

    tok.train_from_iterator(_texts(), trainer=trainer)
    if not seen:
        raise EmptyCorpusError("empty corpus: no non-empty text to train the tokenizer on")
    return tok


_TOKENIZER_ACTION = (
    "set tokenize.tokenizer.path to a Hugging Face tokenizer.json (or a directory holding one), "
    "or leave it out to train one"
)


def resolve_tokenizer_file(path: str | os.PathLike) -> Path:
    """A ``tokenizer.json`` path, given the file itself or a directory containing one; a missing one is
    a TokenizeInputError (the configured path is the user's to fix)."""
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        what = f"no tokenizer.json in {path}" if Path(path).is_dir() else f"tokenizer file not found: {path}"
        raise TokenizeInputError(f"{what} — {_TOKENIZER_ACTION}")
    return p


def check_tokenizer_file(path: str | os.PathLike) -> tuple[Tokenizer, bytes]:
    """The tokenizer at ``path`` and its exact bytes, or a TokenizeInputError naming the file: missing,
    unreadable, or not a tokenizer.json. A plain function so config checks can call it before any work."""
    p = resolve_tokenizer_file(path)
    try:
        data = p.read_bytes()
        return Tokenizer.from_str(data.decode("utf-8-sig")), data
    except OSError as e:
        raise TokenizeInputError(f"cannot read tokenizer {p}: {e.strerror} — {_TOKENIZER_ACTION}") from None
    except Exception as e:  # tokenizers raises a bare Exception for text it cannot parse
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise TokenizeInputError(f"{p} is not a tokenizer.json ({reason}) — {_TOKENIZER_ACTION}") from None


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load a local tokenizer (file or directory); never downloads. TokenizeInputError if it cannot be."""
    return check_tokenizer_file(path)[0]


def special_ids(tok: Tokenizer, config: TokenizeConfig | TokenizerConfig) -> SpecialIds:
    """Resolve the configured special-token names to ids, failing clearly when EOS is missing."""
    cfg = _tok_cfg(config)
    eos = tok.token_to_id(cfg.eos_token)
    if eos is None:
        known = sorted(t.content for t in tok.get_added_tokens_decoder().values())
        raise TokenizeInputError(
            f"the tokenizer has no EOS token {cfg.eos_token!r} (needed to join packed documents); "
            f"set tokenize.tokenizer.eos_token to one of its tokens, e.g. its special tokens {known[:20]}"
        )
    bos = tok.token_to_id(cfg.bos_token) if cfg.bos_token is not None else None
    if cfg.add_bos and bos is None:
        raise TokenizeInputError(
            f"add_bos is set but the tokenizer has no BOS token {cfg.bos_token!r}: set "
            "tokenize.tokenizer.bos_token to one of its tokens, or add_bos: false"
        )
    pad = tok.token_to_id(cfg.pad_token) if cfg.pad_token is not None else None
    return SpecialIds(eos=eos, bos=bos, pad=pad, add_bos=cfg.add_bos)


def tokenizer_bytes(tok: Tokenizer) -> bytes:
    """Canonical serialized form (what is saved next to the shards and hashed in the manifest)."""
    return tok.to_str(pretty=False).encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
