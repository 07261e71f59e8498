"""Exploration (read rows of samples 1 + 2): on clean documents that fire, which window fires and how long it is.

PYTHONPATH=. taskset -c 1 .venv/bin/python benchmarks/results/rules/balanced-tail/tails.py
"""

import collections
import os

os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np
import torch

from benchmarks.eval_harm import NEWS, SHARED_DATA, Judge, load_all, load_news, sample
from filters.detectors.harm import CATEGORIES
from filters.normalize import normalize


def clean_documents() -> list:
    rows = []
    test = [r for r in load_all(SHARED_DATA) if r.split == "test"] + load_news(SHARED_DATA)
    for offset in (0, 300):
        rows += [
            r
            for r in sample(test, 300, offset)
            if r.source.startswith("prose:") or r.source == NEWS or r.source.startswith("medquad")
        ]
    return rows


def main() -> None:
    torch.set_num_threads(1)
    judge = Judge("required", "confirm")
    fired = []
    for r in clean_documents():
        verdict = judge.filter.check_batch([r.text])[0]
        view = normalize(r.text)
        windows = judge.harm.window_scores([view])[0]
        for c in verdict.fired:
            if c not in CATEGORIES:
                continue
            w = int(np.argmax(windows.probs[:, CATEGORIES.index(c)]))
            start, end = windows.bounds[w]
            last = w == len(windows.bounds) - 1 and w > 0
            fired.append((r.source.split(":")[0], c, last, end - start, view.text[start:end]))
    short_tails = [f for f in fired if f[2] and f[3] < 200]
    print(
        f"fired (document, category) pairs {len(fired)}; best window the last of several and < 200 chars: {len(short_tails)}"
    )
    print(collections.Counter((f[0], f[2], f[3] < 200) for f in fired))
    for source, category, _, length, text in short_tails:
        print(source, category, length, repr(text[:150]))


if __name__ == "__main__":
    main()
