"""Shared test fixtures: the real data folder and one Ray instance per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WINNOW_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`: real corpora and labeled sets (see its README)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set WINNOW_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shakespeare_tokens(shared_data: Path):
    """A builder of token shards for the trainer's tests: the first `chars` characters of Tiny
    Shakespeare, paragraphs as documents, a 512-token byte-level BPE, rows of 64 tokens."""

    def build(dest: Path, chars: int) -> Path:
        from trainer.sample_tokens import bpe_tokens_dir

        text = (shared_data / "clean_text" / "tinyshakespeare_input.txt").read_text(encoding="utf-8")[:chars]
        docs = [d for d in text.split("\n\n") if d.strip()]
        return bpe_tokens_dir(dest, docs, vocab_size=512, seq_len=64)

    return build


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the whole test session (it takes ~10 s to start), started the
    way `winnow run` starts its own: loopback only, no dashboard, no metrics export."""
    import ray

    from dedup.executor import connect_ray

    connect_ray(num_cpus=2, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    # Left running until interpreter exit: other session fixtures may still use it.
