"""The `winnow` command line: every subcommand on real data, through `main()` as a user types it."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from winnow.cli import main


def test_help_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "winnow.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in [
        "run",
        "validate",
        "stats",
        "report",
        "filter",
        "dedup",
        "tokenize",
        "train",
        "generate",
        "serve",
    ]:
        assert cmd in out


def test_dedup_explain_prints_the_s_curve(capsys):
    assert main(["dedup", "--explain", "--threshold", "0.7"]) == 0
    out = capsys.readouterr().out
    assert "0.70" in out or "0.7" in out
    assert "bands" in out.lower()


def test_dedup_on_real_near_duplicates(ray_session, shared_data, tmp_path, capsys):
    import csv

    rows = []
    with open(shared_data / "neardup/wiki_toxicity_fuzzed_testset.csv", encoding="utf-8") as f:
        fuzzed = {r["rev_id"]: r["comment"] for r in csv.DictReader(f)}
    with open(shared_data / "toxicity/wiki_toxicity_nonfuzzed_testset.csv", encoding="utf-8") as f:
        for r in list(csv.DictReader(f))[:150]:
            rows.append({"id": f"a{r['rev_id']}", "text": r["comment"]})
            rows.append({"id": f"b{r['rev_id']}", "text": fuzzed[r["rev_id"]]})
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["dedup", str(src), "-o", str(tmp_path / "out")]) == 0
    stats = json.loads(capsys.readouterr().out)
    kept = pq.read_table(tmp_path / "out" / "kept")
    removed = pq.read_table(tmp_path / "out" / "rejected")
    assert kept.num_rows + removed.num_rows == len(rows)
    identical = sum(rows[i]["text"] == rows[i + 1]["text"] for i in range(0, len(rows), 2))
    assert removed.num_rows > identical  # every exact copy, and near copies too
    assert stats["documents_in"] == len(rows)


def test_filter_score_writes_one_line_per_input(repo_root, tmp_path, capsys):
    lines = [
        json.dumps({"id": "clean", "text": "The river flows gently through the valley in spring."}),
        json.dumps({"id": "pii", "text": "Write to me at jane.doe@example.com or call +1 415 555 0132."}),
        "this is not json",
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    policy = str(repo_root / "configs" / "policy.yaml")
    assert main(["filter", "score", "--policy", policy, "--mode", "runtime", str(src), "-o", str(out)]) == 0
    results = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(results) == 3
    by_id = {r.get("id"): r for r in results}
    assert "<EMAIL>" in by_id["pii"]["text"]
    assert results[2]["action"] == "error"


def test_stats_and_report_on_a_run(ray_session, repo_root, tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    src = repo_root / "data" / "sample" / "cc_en_head-0091.jsonl"
    cfg.write_text(
        f"stages: [ingest, exact_dedup]\ningest: {{sources: [{{uri: {src}}}], cache_dir: {tmp_path}}}\n"
    )
    run_dir = tmp_path / "run"
    assert main(["run", str(cfg), "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "ledger reconciles" in out and "report.html" in out
    assert main(["stats", str(run_dir)]) == 0
    assert "exact_dedup" in capsys.readouterr().out
    assert main(["stats", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents_in"] == 10
    assert main(["report", str(run_dir), "-o", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().startswith("<!")
    assert main(["stats", str(tmp_path / "nope")]) == 2  # a user's mistake


def test_tokenize_a_run_directory(ray_session, repo_root, tmp_path, capsys, monkeypatch):
    from pipeline.stages.tokenize import TokenizeProgress

    told: list[tuple[int, int, int]] = []  # `winnow tokenize` shows encoding progress as the stage does
    monkeypatch.setattr(TokenizeProgress, "__call__", lambda _self, *args: told.append(args))
    cfg = tmp_path / "run.yaml"
    src = repo_root / "data" / "sample" / "documents.jsonl.gz"
    cfg.write_text(
        f"stages: [ingest]\ningest: {{sources: [{{uri: {src}, format: jsonl}}], cache_dir: {tmp_path}}}\n"
    )
    assert main(["run", str(cfg), "--run-dir", str(tmp_path / "run"), "--no-report"]) == 0
    tok_cfg = tmp_path / "tok.yaml"
    tok_cfg.write_text("tokenizer: {vocab_size: 512}\nseq_len: 64\n")
    capsys.readouterr()
    rc = main(["tokenize", str(tmp_path / "run"), "-o", str(tmp_path / "tokens"), "--config", str(tok_cfg)])
    assert rc == 0
    manifest = json.loads((tmp_path / "tokens" / "manifest.json").read_text())
    assert manifest["seq_len"] == 64 and manifest["total_tokens"] > 10_000
    assert told and told[-1][0] == told[-1][1] and told[-1][2] > 0, told  # all chunks, some documents


@pytest.mark.parametrize("argv", [["run"], ["filter"], ["dedup", "--nope"]])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2


def test_tokenize_skips_and_names_malformed_lines(ray_session, tmp_path, capsys, monkeypatch):
    """A malformed JSONL line is skipped and counted (`documents_malformed`), never fatal, never silent."""
    monkeypatch.setenv("WINNOW_PROGRESS_EVERY", "3600")  # stderr below holds the warnings only
    good = [
        json.dumps({"id": f"d{i}", "text": f"document {i} says the river runs to the sea " * 4})
        for i in range(6)
    ]
    src = tmp_path / "mal.jsonl"
    src.write_text("\n".join([*good[:3], '{"id": "bad", "text": "unterminated', "[1, 2]", *good[3:]]) + "\n")
    tok_cfg = tmp_path / "tok.yaml"
    tok_cfg.write_text("tokenizer: {vocab_size: 300}\nseq_len: 16\nval_fraction: 0\n")
    assert main(["tokenize", str(src), "-o", str(tmp_path / "tokens"), "--config", str(tok_cfg)]) == 0
    out, err = capsys.readouterr()
    stats = json.loads(out)
    assert (stats["documents_in"], stats["documents_malformed"]) == (6, 2)
    assert stats["splits"]["train"]["documents"] == 6
    assert err.splitlines() == [
        "warning: 2 malformed input line(s) left out (skipped, counted as `documents_malformed`):",
        f"warning:   {src}: line 4: malformed JSON: Unterminated string starting at (column 23)",
        f"warning:   {src}: line 5: expected a JSON object, got list",
    ]
