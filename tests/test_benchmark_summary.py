"""BENCHMARKS.md's "Current figures" table is what `benchmarks.summary` renders from the results files, so it
cannot go stale; a results file that lacks a figure's key is a clear error, not a blank cell."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.machine import RESULTS
from benchmarks.summary import DOC, END, FIGURES, START, SummaryError, render, replace_block


def _copy_results(folder: Path) -> None:
    for name in {name for figure in FIGURES for name in figure.files}:
        shutil.copy(RESULTS / name, folder / name)


def test_the_table_in_benchmarks_md_is_what_the_results_files_render() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, "BENCHMARKS.md lacks the current-figures markers"
    shown = text[text.index(START) : text.index(END) + len(END)]
    assert shown == render(), (
        "BENCHMARKS.md's Current figures table differs from the results files: "
        "run `python -m benchmarks.summary --write`"
    )
    # it sits before the dated history
    assert text.index(END) < text.index("\n## Ingest")


def _drop_harm_adds(doc: dict) -> None:
    del doc["figures"]["harm_adds"]


def _drop_fast_tier_row(doc: dict) -> None:
    doc["figures"]["check"] = [
        r for r in doc["figures"]["check"] if r["variant"] != "plain, harm fast tier only"
    ]


def _drop_framing_lost(doc: dict) -> None:
    del doc["shipped_confirm"]["framing"]["sure_answer"]["lost"]


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        (
            "eval_harm.json",
            _drop_framing_lost,
            r"eval_harm\.json has no shipped_confirm\.framing\.sure_answer\.lost",
        ),
        (
            "filter_speed.json",
            _drop_harm_adds,
            r"benchmarks/results/filter_speed\.json has no figures\.harm_adds",
        ),
        (
            "check_latency.json",
            _drop_fast_tier_row,
            r"check_latency\.json has no figures\.check\[chars=2048,variant=plain, harm",
        ),
    ],
)
def test_a_results_file_without_a_needed_key_or_row_names_it(
    tmp_path: Path, name: str, edit, message: str
) -> None:
    _copy_results(tmp_path)
    path = tmp_path / name
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SummaryError, match=message):
        render(tmp_path)


def test_a_missing_results_file_is_named(tmp_path: Path) -> None:
    _copy_results(tmp_path)
    (tmp_path / "serve_load.json").unlink()
    with pytest.raises(SummaryError, match=r"benchmarks/results/serve_load\.json not found"):
        render(tmp_path)


def test_replace_block_needs_both_markers_once() -> None:
    block = f"{START}\nnew\n{END}"
    assert replace_block(f"a\n{START}\nold\n{END}\nb", block) == f"a\n{block}\nb"
    with pytest.raises(SummaryError, match="current-figures"):
        replace_block("no markers here", block)
