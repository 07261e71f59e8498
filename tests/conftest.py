"""Shared test fixtures: the real data slices shipped in tests/fixtures/shared, one Ray instance per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DATA = REPO_ROOT / "tests" / "fixtures" / "shared"


def missing_fixture_files(root: Path) -> list[str]:
    """Files MANIFEST.sha256 lists that are absent under `root` (all of them if it has no manifest)."""
    manifest = root / "MANIFEST.sha256"
    if not manifest.is_file():
        return [str(manifest)]
    names = [line.split("  ", 1)[1] for line in manifest.read_text(encoding="utf-8").splitlines() if line]
    return [n for n in names if not (root / n).is_file()]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Slices of `../shared/data` shipped with the tests (tests/fixtures/shared, see its
    ATTRIBUTION.md): a test's coverage never depends on data outside the repository, and a
    missing file fails the test instead of skipping it."""
    missing = missing_fixture_files(FIXTURE_DATA)
    if missing:
        pytest.fail(
            f"test fixtures missing under {FIXTURE_DATA}: {', '.join(missing[:5])}"
            " (restore them from git, or rebuild with tests/fixtures/shared/build.py)",
            pytrace=False,
        )
    return FIXTURE_DATA


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

    from kit.ray_local import connect_ray

    connect_ray(num_cpus=2, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    # Left running until interpreter exit: other session fixtures may still use it.
