"""Exploration only: the shipped model files with the variant's windows (not retrained for them).

PYTHONPATH=. .venv/bin/python benchmarks/results/rules/balanced-tail/sim_tail.py <eval_harm arguments>
"""

import sys

import filters.detectors.harm as harm
import filters.detectors.harm_features as features

_front_cut = features.window_bounds


def balanced_tail(text: str, window_chars: int) -> list[tuple[int, int]]:
    out = _front_cut(text, window_chars)
    if len(out) >= 2 and out[-1][1] - out[-1][0] < window_chars // 2:
        start, end = out[-2][0], out[-1][1]
        middle = (start + end) // 2
        cut = text.rfind(" ", start + 1, middle + 1)
        if cut <= start:
            cut = text.find(" ", middle, end)
        if start < cut < end:
            out[-2:] = [(start, cut), (cut + 1, end)]
    return out


harm.window_bounds = balanced_tail

if __name__ == "__main__":
    from benchmarks import eval_harm

    sys.exit(eval_harm.main(sys.argv[1:]))
