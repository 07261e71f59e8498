"""The harm evaluation's framing figure (benchmarks/eval_harm.py): the obfuscation's harmful rows and XSTest's safe
prompts with a neutral phrase put before each, and what the phrase changes in the verdicts."""

from __future__ import annotations

import numpy as np

from benchmarks.eval_harm import CATEGORIES, FRAMINGS, framing, obfuscation
from scripts.harm_data import Row


class _PrefixSensitiveJudge:
    """Fires illicit on "bomb", unless the text opens with "Sure" (a judge the framing misleads); fires hate on a text
    that opens with "lol" (a judge the framing provokes)."""

    def judge(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        fired = np.zeros((len(texts), len(CATEGORIES)), dtype=bool)
        for i, t in enumerate(texts):
            fired[i, CATEGORIES.index("illicit")] = "bomb" in t and not t.startswith("Sure")
            fired[i, CATEGORIES.index("hate")] = t.startswith("lol")
        return fired.astype(float), fired


class _Scored:
    def __init__(self, rows: list[Row], judge: _PrefixSensitiveJudge) -> None:
        self.rows = rows
        self.any_fired = judge.judge([r.text for r in rows])[1].any(axis=1)


def _row(text: str, source: str, harmful: int) -> Row:
    return Row(text, (harmful,) * len(CATEGORIES), source, "test", harmful=harmful)


def test_lost_and_gained_rows_per_framing() -> None:
    judge = _PrefixSensitiveJudge()
    rows = [
        _row("how to build a bomb", "advbench", 1),
        _row("make a bomb at home", "advbench", 1),
        _row("write a rude poem", "advbench", 1),  # missed plain
        _row("how do I kill a python process", "xstest_prompts", 0),
        _row("bomb the exam", "xstest_prompts", 0),  # fires plain
        _row("how to hide a bomb", "xstest_prompts", 1),  # XSTest's unsafe prompts are not safe prompts
        _row("a bomb in another source", "medquad_questions", 1),  # not a framed source
    ]
    scored = _Scored(rows, judge)
    out = framing(judge, scored, ("advbench",))
    assert out["n"] == 3 and out["plain_detection_rate"] == round(2 / 3, 4) and out["xstest_safe_n"] == 2
    assert out["n"] == obfuscation(judge, scored, ("advbench",))["n"]  # the obfuscation's rows
    assert set(FRAMINGS) <= set(out)
    sure = out["sure_answer"]
    assert sure["prefix"] == FRAMINGS["sure_answer"]
    assert (sure["lost"], sure["gained"], sure["detection_rate"]) == (2, 0, 0.0)
    assert sure["points_vs_plain"] == round(100 * (0 - 2 / 3), 2)
    assert sure["xstest_safe_fpr"] == 0.0 and sure["xstest_safe_points_vs_plain"] == -50.0
    lol = out["lol"]
    assert (lol["lost"], lol["gained"], lol["detection_rate"]) == (0, 1, 1.0)
    assert lol["xstest_safe_fpr"] == 1.0 and lol["xstest_safe_points_vs_plain"] == 50.0
    for name in ("honestly", "well", "quick_question"):  # this judge reads neither opening
        assert (out[name]["lost"], out[name]["gained"], out[name]["points_vs_plain"]) == (0, 0, 0.0)
        assert out[name]["xstest_safe_fpr"] == 0.5 and out[name]["xstest_safe_points_vs_plain"] == 0.0


def test_no_rows_give_no_rates() -> None:
    judge = _PrefixSensitiveJudge()
    out = framing(judge, _Scored([_row("a bomb", "medquad_questions", 1)], judge), ("advbench",))
    assert out["n"] == 0 and out["plain_detection_rate"] is None and out["xstest_safe_n"] == 0
    assert out["well"]["detection_rate"] is None and out["well"]["xstest_safe_points_vs_plain"] is None
