"""The stronger tier's training embeds each text alone, so a text's cached embedding, and so the heads' bytes, do not
depend on what else the cache held or embedded with it (`scripts/train_harm_encoder.embed_cached`).

Why: embedded in batches, a text's embedding moved in its last bits with its batch-mates (padding changes the
products' shapes), and heads trained from another cache history differed by ~1e-6 (2026-12-06)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import scripts.train_harm_encoder as training
from filters.detectors.encoder import TextEncoder, find_model_dir


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    found = find_model_dir()
    if found is None or not (found / "model.safetensors").is_file():
        pytest.fail("text encoder not installed (make install)", pytrace=False)
    return TextEncoder(found, max_tokens=128)


TEXTS = [
    "how do i keep the deer out of my vegetable garden",
    "a much longer sentence about the weather, the harbour and the boats that come in at dusk, written to differ in length",
    "ok",
    "the committee met on tuesday to review the annual budget",
]


def test_an_embedding_does_not_depend_on_what_was_embedded_with_it(
    encoder: TextEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "CACHE", tmp_path / "together")
    together = training.embed_cached(encoder, TEXTS)
    monkeypatch.setattr(training, "CACHE", tmp_path / "apart")
    apart = np.stack([training.embed_cached(encoder, [t])[0] for t in reversed(TEXTS)])[::-1]
    assert np.array_equal(together, apart)  # bit for bit, whatever the history
    assert np.array_equal(together, encoder.embed(TEXTS, batch_size=1))


def test_the_cache_is_read_back_and_keeps_its_own_file(
    encoder: TextEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "CACHE", tmp_path)
    first = training.embed_cached(encoder, TEXTS[:2])
    (store,) = tmp_path.glob("*.npz")
    assert store.name.endswith("-alone.npz")  # the batched embeddings' file is never read
    assert np.array_equal(training.embed_cached(encoder, TEXTS[:2]), first)
