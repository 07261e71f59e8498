"""Leet vs plain detection of the toxic Wikipedia Talk comments of rows 900-1499 (read rows), and of the
52 of them in rows 1200-1499 (the model card's worst case). Run from the repository root of the tree to
measure: PYTHONPATH=. OMP_NUM_THREADS=1 taskset -c 1 .venv/bin/python benchmarks/results/rules/leet-words/wiki_leet.py
"""

import numpy as np

from benchmarks import eval_harm as E
from benchmarks.machine import SHARED_DATA
from scripts.harm_data import load_all

test = [r for r in load_all(SHARED_DATA) if r.split == "test"]
late = {id(r) for r in E.sample(test, 300, 1200)}
rows = E.sample(test, 600, 900)
pos = [r for r in rows if r.harmful == 1 and r.source == "wiki_toxicity"]
judge = E.Judge("required", "confirm")
plain = judge.judge([r.text for r in pos])[1].any(1)
leet = judge.judge([E.leet(r.text) for r in pos])[1].any(1)
m = np.array([id(r) in late for r in pos])
for name, keep in (("wiki 900-1499", np.ones(len(pos), dtype=bool)), ("wiki 1200-1499", m)):
    p, q = plain[keep].mean(), leet[keep].mean()
    print(name, int(keep.sum()), round(p, 3), round(q, 3), "points", round(100 * (q - p), 1))
