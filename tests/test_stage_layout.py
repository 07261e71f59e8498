"""Issue 16 leftovers: each stage's marker sits with its output, the dedup sections are dedup's own
models with their own batch size, and every per-part stage goes through one part mapper."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from dedup.config import DedupConfig, ExactOnlyConfig
from pipeline import layout, runner
from pipeline.config import ConfigError, dump_config, parse_config
from pipeline.layout import StagePaths
from pipeline.ledger import StageStats
from pipeline.stages.mapping import Unit, run_parts

SOURCES = {"sources": [{"uri": "a.jsonl"}]}
STAGES = ["ingest", "exact_dedup", "filter", "near_dedup", "tokenize"]


def _config(tmp_path: Path, **sections):
    return parse_config({"stages": STAGES, "ingest": SOURCES, **sections}, base_dir=str(tmp_path))


# ---------------------------------------------------------------- the marker beside the output


def test_every_marker_sits_in_its_stage_output_directory(tmp_path):
    run = str(tmp_path / "run")
    for name in STAGES[:-1]:
        paths = StagePaths(run, name)
        assert paths.out_dir == f"{run}/{name}" and paths.success == f"{paths.out_dir}/_SUCCESS"
        assert paths.legacy_marker_dir is None
    tokenize = StagePaths(run, "tokenize")
    assert tokenize.out_dir == f"{run}/tokens"
    assert tokenize.success == f"{run}/tokens/_SUCCESS"
    assert tokenize.legacy_marker_dir == f"{run}/tokenize"


class FakeStages:
    """Stand-ins for the stage functions: record which ran, write a file into the output like a stage."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def __call__(self, name: str):
        def run(cfg, run_dir: str, previous: str | None) -> StageStats:
            self.ran.append(name)
            out = Path(StagePaths(run_dir, name).out_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / "output").write_text(name)
            return StageStats(name=name, input=3, kept=3)

        return run


def _run(monkeypatch, cfg, run_dir: Path) -> tuple[list[str], list[str]]:
    fake = FakeStages()
    monkeypatch.setattr(runner, "stage_function", fake)
    said: list[str] = []
    runner.run_pipeline(cfg, str(run_dir), say=said.append)
    return fake.ran, said


def test_the_layout_names_every_run_file_and_lists_parts_by_one_rule(tmp_path):
    run = str(tmp_path / "run")
    assert layout.config_path(run) == f"{run}/config.yaml" and layout.stats_path(run) == f"{run}/stats.json"
    assert layout.report_path(run) == f"{run}/report.html" and layout.train_dir(run) == f"{run}/train"
    assert layout.clusters_path(run, "near_dedup") == f"{run}/clusters/near_dedup.parquet"
    assert layout.tokens_manifest(run) == f"{run}/tokens/manifest.json"
    assert StagePaths(run, "filter").rejected_dir == f"{run}/rejected/filter"
    assert StagePaths(run, "ingest").quarantine_dir == f"{run}/quarantine/ingest"
    out = tmp_path / "run" / "filter"
    for name in ["part-00001.parquet", "part-00000-0000.parquet", "_SUCCESS", "_parts/part-00000.json"]:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"")
    (out / ".part-00002.parquet.0123456789abcdef0123456789abcdef.tmp").write_bytes(b"")
    assert [Path(p).name for p in layout.parts(str(out))] == ["part-00000-0000.parquet", "part-00001.parquet"]
    assert StagePaths(run, "filter").output_parts() == layout.parts(str(out))
    clusters = tmp_path / "run" / "clusters"
    clusters.mkdir()
    for name in ["near_dedup.parquet", "exact_dedup.parquet"]:
        (clusters / name).write_bytes(b"")
    assert [layout.part_name(p) for p in layout.cluster_files(run)] == ["exact_dedup", "near_dedup"]


def test_a_finished_run_is_skipped_and_tokens_holds_the_marker(tmp_path, monkeypatch):
    cfg, run_dir = _config(tmp_path), tmp_path / "run"
    ran, _ = _run(monkeypatch, cfg, run_dir)
    assert ran == STAGES
    assert sorted(p.name for p in (run_dir / "tokens").iterdir()) == ["_SUCCESS", "output"]
    assert not (run_dir / "tokenize").exists()
    ran, said = _run(monkeypatch, cfg, run_dir)
    assert ran == [] and said == [f"  {name}: skipped (already done)" for name in STAGES]


def test_a_run_directory_of_the_old_layout_redoes_tokenize_and_drops_the_old_marker(tmp_path, monkeypatch):
    """Before, tokenize's `_SUCCESS` was `tokenize/_SUCCESS`, beside `tokens/`: such a marker alone
    never counts as done (the stage is redone into `tokens/`); the finished document stages resume."""
    cfg, run_dir = _config(tmp_path), tmp_path / "run"
    _run(monkeypatch, cfg, run_dir)
    tokens = run_dir / "tokens"
    success = json.loads((tokens / "_SUCCESS").read_text())
    (tokens / "_SUCCESS").unlink()
    (run_dir / "tokenize").mkdir()
    (run_dir / "tokenize" / "_SUCCESS").write_text(json.dumps(success))
    ran, said = _run(monkeypatch, cfg, run_dir)
    assert ran == ["tokenize"]
    assert said == [f"  {name}: skipped (already done)" for name in STAGES[:-1]]
    assert (tokens / "_SUCCESS").is_file() and not (run_dir / "tokenize").exists()


def test_a_killed_tokenize_is_never_taken_as_done(tmp_path, monkeypatch):
    """Killed after publishing `tokens/` but before its marker: the rerun tokenizes again."""
    cfg, run_dir = _config(tmp_path), tmp_path / "run"
    _run(monkeypatch, cfg, run_dir)
    (run_dir / "tokens" / "_SUCCESS").unlink()
    ran, _ = _run(monkeypatch, cfg, run_dir)
    assert ran == ["tokenize"]


# ---------------------------------------------------------------- the dedup sections


def test_exact_dedup_is_dedups_model_with_its_keys_in_their_order(tmp_path):
    cfg = _config(tmp_path, exact_dedup={"survivor": ["length"], "num_partitions": 3})
    assert isinstance(cfg.exact_dedup, ExactOnlyConfig) and isinstance(cfg.near_dedup, DedupConfig)
    saved = yaml.safe_load(dump_config(cfg))
    assert list(saved["exact_dedup"]) == [
        "enabled",
        "survivor",
        "num_partitions",
        "rows_per_block",
        "batch_rows",
    ]
    assert list(saved["near_dedup"])[-1] == "batch_rows"
    assert saved["exact_dedup"]["survivor"] == ["length"]
    dcfg = cfg.exact_dedup.dedup_config()
    assert type(dcfg) is DedupConfig
    assert (dcfg.survivor, dcfg.num_partitions, dcfg.rows_per_block) == (["length"], 3, 20_000)
    assert dcfg.exact.enabled and not dcfg.minhash.enabled


def test_dedup_stages_have_their_own_batch_size(tmp_path):
    cfg = _config(tmp_path, ingest={**SOURCES, "batch_rows": 7})
    assert cfg.exact_dedup.batch_rows == cfg.near_dedup.batch_rows == 2048  # unchanged output bytes
    with pytest.raises(ConfigError) as e:
        _config(tmp_path, exact_dedup={"batch_rows": 0}, near_dedup={"batch_row": 5})
    assert "  exact_dedup.batch_rows: Input should be greater than 0" in str(e.value).splitlines()
    assert "  near_dedup.batch_row: unknown field; did you mean 'batch_rows'?" in str(e.value)


def test_the_exact_stage_writes_row_groups_of_its_own_batch_size(tmp_path, ray_session):
    from pipeline.stages import exact_dedup

    run_dir = tmp_path / "run"
    (run_dir / "ingest").mkdir(parents=True)
    texts = [f"document number {i}" for i in range(10)] + ["document number 0"]
    table = pa.table(
        {
            "id": [f"{i:02d}" for i in range(len(texts))],
            "text": texts,
            "source": ["s"] * len(texts),
            "url": pa.array([None] * len(texts), pa.string()),
            "position": list(range(len(texts))),
        }
    )
    pq.write_table(table, run_dir / "ingest" / "part-00000.parquet")
    cfg = _config(tmp_path, exact_dedup={"batch_rows": 4})
    stats = exact_dedup.run(cfg, str(run_dir), "ingest")
    assert (stats.input, stats.kept, stats.removed) == (11, 10, {"exact_duplicate": 1})
    kept = pq.ParquetFile(run_dir / "exact_dedup" / "part-00000.parquet")
    assert [kept.metadata.row_group(g).num_rows for g in range(kept.num_row_groups)] == [4, 4, 2]


# ---------------------------------------------------------------- one part mapper


def test_run_parts_resumes_writes_each_parts_stats_last_and_sums(tmp_path, ray_session):
    def _letters_work(text: str) -> StageStats:
        """A unit's work: each character is an input, kept when it is a letter (defined here, so
        Ray's workers get it by value: the test module is not importable there)."""
        stats = StageStats(name="letters", input=len(text), kept=sum(c.isalpha() for c in text))
        stats.add_removed("not_a_letter", stats.input - stats.kept)
        return stats

    paths = StagePaths(str(tmp_path / "run"), "letters")
    units = [Unit("part-00000", ("ab1",)), Unit("part-00001", ("c 2",)), Unit("part-00002", ("def",))]
    first = run_parts(paths, units, _letters_work)
    assert (first.input, first.kept, first.removed) == (9, 6, {"not_a_letter": 3})
    for unit in units:
        assert Path(paths.part_stats(unit.part)).is_file()
    # A unit whose stats file exists is finished: its stats are read, its work is not done again.
    earlier = StageStats(name="letters", input=100, kept=100)
    Path(paths.part_stats("part-00001")).write_text(json.dumps(earlier.to_dict()))
    Path(paths.part_stats("part-00002")).unlink()
    again = run_parts(paths, units, _letters_work)
    assert (again.input, again.kept) == (3 + 100 + 3, 2 + 100 + 3)
    assert json.loads(Path(paths.part_stats("part-00002")).read_text())["kept"] == 3


def test_a_run_dir_saved_before_a_key_was_added_resumes_and_a_changed_value_is_refused(tmp_path):
    from pipeline.preflight import check_run_dir

    src = str(Path(__file__).resolve().parents[1] / "data" / "sample" / "cc_en_head-0091.jsonl")
    cfg = parse_config(
        {"stages": ["ingest"], "ingest": {"sources": [{"uri": src}], "cache_dir": str(tmp_path)}}
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    saved = yaml.safe_load(dump_config(cfg))
    del saved["exact_dedup"]["batch_rows"]  # what a version without that key wrote
    (run_dir / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False), encoding="utf-8")
    check_run_dir(cfg, str(run_dir))
    runner.prepare_run_dir(cfg, str(run_dir))
    assert (run_dir / "config.yaml").read_text(encoding="utf-8") == dump_config(cfg)  # rewritten in full

    saved["exact_dedup"]["num_partitions"] = 3
    (run_dir / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"exact_dedup\.num_partitions: 3 -> 8"):
        check_run_dir(cfg, str(run_dir))
