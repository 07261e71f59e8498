"""fp32 against bf16 (plain, then packed) one window at a time on this CPU: median ms per window.

    PYTHONPATH=. OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/results/rules/encoder-avx512-bf16/bf16_speed.py

A one-off probe written before the avx512-bf16 rule; evidence, not project code."""

import json
import statistics
import time

import numpy as np
import torch

from filters.detectors.encoder import TextEncoder, pack_linears
from filters.normalize import normalize


def windows() -> list[str]:
    with open("data/harm_hard_negatives/hard_negatives.jsonl", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    with open("tests/fixtures/harm/clean_page.txt", encoding="utf-8") as f:
        page = f.read()
    pieces = [page[i : i + 400] for i in range(0, len(page) - 400, 400)]
    return [normalize(t).text for t in (texts[:150] + pieces)[:200]]


def timed(enc: TextEncoder, sample: list[str], label: str) -> None:
    for t in sample[:20]:
        enc.embed([t])
    medians = []
    for _ in range(2):
        times = []
        for t in sample:
            t0 = time.perf_counter()
            enc.embed([t])
            times.append((time.perf_counter() - t0) * 1000)
        medians.append(statistics.median(times))
    print(label, "median ms/window per pass", [round(m, 2) for m in medians], flush=True)


def main() -> None:
    torch.set_num_threads(1)
    sample = windows()
    fp32 = TextEncoder(precision="fp32")
    timed(fp32, sample, "fp32")
    bf16 = TextEncoder(precision="bf16")
    timed(bf16, sample, "bf16 plain")
    bf16.packed = pack_linears(bf16._model.layers, bf16.max_tokens)
    print("packed:", bf16.packed)
    timed(bf16, sample, "bf16 packed")
    a = np.concatenate([fp32.embed([t]) for t in sample[:100]])
    b = np.concatenate([bf16.embed([t]) for t in sample[:100]])
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print("cosine fp32 vs bf16 packed: min", cos.min())


if __name__ == "__main__":
    main()
