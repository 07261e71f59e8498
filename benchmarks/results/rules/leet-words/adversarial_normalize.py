"""normalize() seconds per MB of adversarial leet text, median of 3 (run from the repository root of the
tree to measure: PYTHONPATH=. taskset -c 1 .venv/bin/python benchmarks/results/rules/leet-words/adversarial_normalize.py)."""

import time

from filters.normalize import normalize


def _letters(i: int) -> str:
    """Five letters that spell i in base 26: distinct for 11.8 million tokens, so no cache helps."""
    return "".join(chr(97 + i // 26**k % 26) for k in range(5))


def distinct_ambiguous(n: int) -> str:
    """Tokens with six i/l-ambiguous symbols each, no two alike (no cache helps)."""
    return "".join(f"{_letters(i)[0]}1l1!1|1{_letters(i)[1:]} " for i in range(n // 13 + 1))[:n]


GENERATORS = {
    "ambiguous_tokens": distinct_ambiguous,
    "leet_run": lambda n: ("m4ke 4 b0mb 4 70 1t 15 " * (n // 23 + 1))[:n],
    # distinct 7-digit numbers beside a leet word: every number is looked up (a review's worst case)
    "leet_and_numbers": lambda n: "".join(
        f"m4ke {i:07d} {i * 7919 % 10**7:07d} " for i in range(n // 22 + 1)
    )[:n],
    "colons_hex": lambda n: ("a1:" * (n // 3 + 1))[:n],
    "prose_digits": lambda n: ("Call 555-0132 on 2024-01-02 at 10.0.0.1 or mail a@b.co. " * (n // 56 + 1))[
        :n
    ],
}
normalize("warm k1ll")  # loads the word lists where the tree has them
for name, make in GENERATORS.items():
    text = make(1_000_000)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        normalize(text)
        times.append(time.perf_counter() - t0)
    print(f"{name:18s} {sorted(times)[1]:.3f} s per MB (median of 3)")
