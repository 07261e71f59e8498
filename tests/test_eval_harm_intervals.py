"""The harm evaluation's 95% intervals (benchmarks/eval_harm.py): a bootstrap within each source, so a
reader of BENCHMARKS.md can tell a real change from sampling noise; and its cost line on a sample without prose."""

from __future__ import annotations

import numpy as np

from benchmarks.eval_harm import interval95


def _f1(y: np.ndarray, fired: np.ndarray) -> float:
    tp, fp, fn = (fired & (y == 1)).sum(), (fired & (y == 0)).sum(), (~fired & (y == 1)).sum()
    return 2 * tp / (2 * tp + fp + fn)


def test_the_interval_holds_the_figure_and_narrows_with_more_rows() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (100, 1600):
        y = (rng.random(n) < 0.4).astype(int)
        fired = np.where(y == 1, rng.random(n) < 0.7, rng.random(n) < 0.2)
        strata = ["a" if i % 3 else "b" for i in range(n)]
        lo, hi = interval95(y, fired, strata, "f1")
        assert lo < _f1(y, fired) < hi
        widths.append(hi - lo)
        rate_lo, rate_hi = interval95(np.zeros(n), fired, strata, "rate")
        assert rate_lo < fired.mean() < rate_hi
    assert widths[1] < widths[0] / 2  # 16x the rows: about a quarter of the width


def test_a_source_keeps_its_size_in_every_resample() -> None:
    """Rows are drawn within their source: a source that never fires keeps the rate's floor where it
    is; a plain bootstrap over all rows would let the resampled mix of sources move it."""
    fired = np.array([True] * 50 + [False] * 50)
    strata = ["fires"] * 50 + ["never"] * 50
    assert interval95(np.zeros(100), fired, strata, "rate") == [0.5, 0.5]
    assert interval95(np.ones(4), np.ones(4, dtype=bool), ["a"] * 4, "f1") == [1.0, 1.0]


def test_a_sample_without_prose_reports_no_cost_texts() -> None:
    """`--offset 900` lies past the last prose document: the cost line says so instead of crashing."""
    from benchmarks.eval_harm import speed
    from filters.detectors.harm import HarmDetector
    from scripts.harm_data import Row

    harm = HarmDetector(encoder="off")
    rows = [Row("a toxic comment", (0,) * 8, "wiki_toxicity", "test", "comment", 1)]
    assert speed(harm, rows) == {"texts": 0}
    prose = [
        Row("The river ran past the mill and the town. " * 60, (0,) * 8, "prose:x.txt", "test", "document", 0)
    ]
    assert speed(harm, prose)["texts"] == 1
