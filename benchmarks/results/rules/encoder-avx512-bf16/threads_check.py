"""Clause 4: the auto-precision encoder packs here, and 100 windows embed to the same bits on one thread and on two.

PYTHONPATH=. taskset -c 1 .venv/bin/python benchmarks/results/rules/encoder-avx512-bf16/threads_check.py"""

import json

import numpy as np
import torch

from filters.detectors.encoder import TextEncoder, bf16_is_native
from filters.normalize import normalize


def main() -> None:
    with open("data/harm_hard_negatives/hard_negatives.jsonl", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    with open("tests/fixtures/harm/clean_page.txt", encoding="utf-8") as f:
        page = f.read()
    windows = [normalize(t).text for t in (texts[:80] + [page[i : i + 400] for i in range(0, 8000, 400)])][
        :100
    ]
    print("bf16_is_native", bf16_is_native())
    torch.set_num_threads(2)
    enc = TextEncoder(precision="auto")
    print("precision", enc.precision, "packed", enc.packed)
    two = [enc.embed([w]) for w in windows]
    torch.set_num_threads(1)
    one = [enc.embed([w]) for w in windows]
    same = sum(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    print(f"windows with the same bits on 1 and 2 threads: {same} of {len(windows)}")


if __name__ == "__main__":
    main()
