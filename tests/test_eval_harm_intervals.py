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


class _StubJudge:
    """Fires on a text that still holds the word "bad" as written (so a rewrite that breaks it is a miss)."""

    def judge(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        fired = np.array([["bad" in t] for t in texts], dtype=bool).reshape(len(texts), 1)
        return fired.astype(float), fired


class _StubScored:
    def __init__(self, rows, judge):
        self.rows = rows
        self.any_fired = judge.judge([r.text for r in rows])[1].any(axis=1)


def test_obfuscation_reports_each_source_and_no_figure_over_no_rows() -> None:
    from benchmarks.eval_harm import TRANSFORMS, obfuscation
    from scripts.harm_data import Row

    rows = [Row("a bad comment", (1,) * 8, "civil_comments_toxic_spans", "test", harmful=1)]
    rows += [Row("a bad sentence", (1,) * 8, "stormfront_hate_sentences", "test", harmful=1)]
    rows += [Row("a fine one", (0,) * 8, "stormfront_hate_sentences", "test", harmful=0)]
    judge = _StubJudge()
    out = obfuscation(judge, _StubScored(rows, judge), sources=None)
    assert out["n"] == 2 and out["plain_detection_rate"] == 1.0
    assert set(out["per_source"]) == {"civil_comments_toxic_spans", "stormfront_hate_sentences"}
    assert out["per_source"]["stormfront_hate_sentences"]["n"] == 1
    for name in TRANSFORMS:
        assert out["per_source"]["civil_comments_toxic_spans"][name] == float(
            "bad" in TRANSFORMS[name]("a bad comment")
        )
    # No XSTest rows here: no false-positive figure (it was NaN, which is not JSON).
    assert out["xstest_safe_n"] == 0 and out["xstest_safe_plain_fpr"] is None
    assert all(out[name]["xstest_safe_fpr"] is None for name in TRANSFORMS)
    # The default sources hold none of these rows: no detection figure either.
    empty = obfuscation(judge, _StubScored(rows, judge))
    assert (
        empty["n"] == 0 and empty["plain_detection_rate"] is None and empty["leet"]["points_vs_plain"] is None
    )
