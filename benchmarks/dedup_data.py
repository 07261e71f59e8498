"""Benchmark documents built from real text in ../shared/data (no downloads).

`speed_docs`: ~4 KB documents of consecutive clean_text paragraphs (random start, seeded), a tenth of them
followed by a lightly edited copy so the dedup has real work.
"""

from __future__ import annotations

import random
import re

from benchmarks.machine import SHARED_DATA, shared_data_missing

SHARED = SHARED_DATA
CLEAN = ["tinystories_head.txt", "wikitext2_valid.txt", "wikitext2_test.txt", "tinyshakespeare_input.txt"]


def data_missing() -> bool:
    """Whether the shared data folder lacks clean_text (then one `error:` line on stderr; the caller exits
    with status 2): the check before any work."""
    return shared_data_missing(SHARED, "clean_text")


def paragraphs() -> list[str]:
    """Paragraphs (blank-line separated, >= 40 chars) of clean_text, Gutenberg books included."""
    files = [SHARED / "clean_text" / f for f in CLEAN] + sorted(
        (SHARED / "clean_text" / "gutenberg").glob("*.txt")
    )
    out: list[str] = []
    for f in files:
        text = f.read_text(encoding="utf-8-sig", errors="replace").replace("\r\n", "\n")
        out += [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) >= 40]
    return out


def edit_words(text: str, rng: random.Random, frac: float) -> str:
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * frac))):
        words[rng.randrange(len(words))] = rng.choice(words)
    return " ".join(words)


def speed_docs(n: int, seed: int = 0, target_chars: int = 4000) -> list[tuple[str, str]]:
    """n (id, text) documents averaging ~target_chars characters."""
    paras = paragraphs()
    rng = random.Random(seed)
    docs: list[tuple[str, str]] = []
    while len(docs) < n:
        i = rng.randrange(len(paras))
        parts: list[str] = []
        while sum(map(len, parts)) < target_chars:
            parts.append(paras[i % len(paras)])
            i += 1
        text = "\n\n".join(parts)
        docs.append((f"d{len(docs):08d}", text))
        if rng.random() < 0.1 and len(docs) < n:
            docs.append((f"d{len(docs):08d}", edit_words(text, rng, 0.02)))
    return docs
