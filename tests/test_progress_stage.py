"""Progress while a stage runs: in a log (not a terminal) a plain line at most every few seconds,
with parts done / total and the work so far, and the last count once any line was written;
nothing at all for a stage that ends sooner."""

from __future__ import annotations

import io
import time

import pytest

from pipeline.executor import PROGRESS_EVERY_S, StageProgress, progress_every_s


def test_a_quick_stage_writes_no_progress_line_to_a_log():
    log = io.StringIO()
    with StageProgress(3, "filter", stream=log) as bar:
        for n in (10, 20, 30):
            bar.update(f"{n} documents")
    assert log.getvalue() == ""


def test_a_slow_stage_writes_parts_and_documents_so_far(monkeypatch):
    monkeypatch.setenv("WINNOW_PROGRESS_EVERY", "0.1")
    log = io.StringIO()
    with StageProgress(4, "filter", stream=log) as bar:
        time.sleep(0.15)
        bar.tick()  # a wait with no part finished still reports
        bar.update("1,200 documents")
        time.sleep(0.15)
        bar.update("2,400 documents")
        bar.update("2,500 documents")  # too soon after the last line: not written
    lines = log.getvalue().splitlines()
    assert [line.rsplit(", ", 1)[0] for line in lines] == [
        "  filter: 0/4 parts",
        "  filter: 2/4 parts, 2,400 documents",
    ]


def test_a_log_that_showed_progress_ends_on_the_final_count(monkeypatch):
    """The last part often finishes within one interval of the last line; its count still shows."""
    monkeypatch.setenv("WINNOW_PROGRESS_EVERY", "0.1")
    log = io.StringIO()
    with StageProgress(1, "filter", stream=log) as bar:
        time.sleep(0.15)
        bar.tick()
        bar.update("3 documents")  # right after the waiting line: written anyway, it is the last
    lines = [line.rsplit(", ", 1)[0] for line in log.getvalue().splitlines()]
    assert lines == ["  filter: 0/1 parts", "  filter: 1/1 parts, 3 documents"]
    assert all(line.endswith("s") for line in lines)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_bar_shows_parts_and_documents_then_clears():
    screen = Terminal()
    with StageProgress(2, "filter", stream=screen) as bar:
        bar.update("5 documents")
    frames = screen.getvalue().split("\r")
    assert any("filter:" in f and "1/2" in f and "5 documents" in f for f in frames), frames
    assert frames[-2].strip() == ""  # the bar is wiped when the stage ends: the stage line follows


@pytest.mark.parametrize(
    ("value", "expected"), [("2.5", 2.5), ("0", 0.1), ("1e9", 3600.0), ("nan", None), ("x", None)]
)
def test_progress_interval_from_the_environment_is_bounded(monkeypatch, value, expected):
    monkeypatch.setenv("WINNOW_PROGRESS_EVERY", value)
    assert progress_every_s() == (PROGRESS_EVERY_S if expected is None else expected)


def test_tokenize_reports_each_encoded_chunk_with_documents_so_far(tmp_path, ray_session):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tokenization import TokenizeConfig, tokenize_to_dir

    texts = [" ".join(f"word{(i * 7 + j) % 50}" for j in range(40)) for i in range(200)]
    part = tmp_path / "part-00000.parquet"
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(200)], "text": texts}), part, row_group_size=50)
    cfg = TokenizeConfig.model_validate(
        {"seq_len": 32, "docs_per_task": 50, "tokenizer": {"vocab_size": 300}}
    )
    calls: list[tuple[int, int, int]] = []
    tokenize_to_dir([str(part)], str(tmp_path / "tokens"), cfg, progress=lambda *a: calls.append(a))
    appended = sorted({c for c in calls if c[0] > 0})
    assert appended == [(1, 4, 50), (2, 4, 100), (3, 4, 150), (4, 4, 200)]


def test_tokenize_progress_counts_a_resumed_run_from_where_it_starts(monkeypatch, capsys):
    """`tokenize_to_dir` reports chunks done so far; a resumed run's first report is past 0, and one
    report may cover several chunks: the bar still ends at total, with its last line written."""
    from pipeline.stages.tokenize import TokenizeProgress

    monkeypatch.setenv("WINNOW_PROGRESS_EVERY", "0.1")
    progress = TokenizeProgress()
    progress(3, 5, 300)  # chunks 1-3 were encoded before the run was killed
    time.sleep(0.15)
    progress(4, 5, 400)
    progress(5, 5, 500)
    progress.close()
    assert progress.bar is not None and progress.bar.done == 5
    assert capsys.readouterr().err.splitlines()[-1].startswith("  tokenize: 5/5 chunks, 500 documents")
