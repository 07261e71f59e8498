"""The pipeline's tokenize stage given no text: zero tokens in the ledger and no `tokens/`, not a
crash; a corpus too small for one row is the config's mistake and says which setting to change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import ConfigError, parse_config
from pipeline.stages import tokenize
from tokenization import CorpusTooSmallError, EmptyCorpusError, TokenizeInputError

pytestmark = pytest.mark.ray


def _run_dir(tmp_path: Path, texts: list[str]) -> Path:
    run_dir = tmp_path / "run"
    part = run_dir / "near_dedup" / "part-00000.parquet"
    part.parent.mkdir(parents=True)
    ids = [f"doc-{i}" for i in range(len(texts))]
    pq.write_table(pa.table({"id": pa.array(ids, pa.string()), "text": pa.array(texts, pa.string())}), part)
    return run_dir


def _config(tmp_path: Path, seq_len: int = 32):
    raw = {
        "name": "t",
        "stages": ["ingest", "near_dedup", "tokenize"],
        "ingest": {"sources": [{"uri": str(tmp_path / "unused.jsonl"), "format": "jsonl"}]},
        "tokenize": {"seq_len": seq_len, "tokenizer": {"vocab_size": 300}},
    }
    return parse_config(raw, base_dir=str(tmp_path))


@pytest.mark.parametrize("texts", [[], ["", ""]], ids=["no-documents", "only-empty-text"])
def test_tokenize_stage_without_text_records_nothing_to_tokenize(tmp_path, ray_session, texts):
    run_dir = _run_dir(tmp_path, texts)
    stats = tokenize.run(_config(tmp_path), str(run_dir), "near_dedup")
    stats.check()
    assert (stats.input, stats.kept, stats.removed_total) == (len(texts), 0, len(texts))
    assert stats.extra["tokens"] == 0 and stats.extra[tokenize.NOTHING_TO_TOKENIZE]
    assert not (run_dir / "tokens").exists()


def test_tokenize_stage_corpus_too_small_names_the_setting(tmp_path, ray_session):
    run_dir = _run_dir(tmp_path, ["a few words only"])
    with pytest.raises(ConfigError, match=r"tokenize: corpus too small.*lower seq_len"):
        tokenize.run(_config(tmp_path, seq_len=512), str(run_dir), "near_dedup")
    assert not (run_dir / "tokens").exists()


def test_bad_tokenize_inputs_share_one_error_class():
    assert issubclass(EmptyCorpusError, TokenizeInputError) and issubclass(
        CorpusTooSmallError, TokenizeInputError
    )
    assert issubclass(TokenizeInputError, ValueError)  # callers that caught ValueError still do


def test_tokenize_cli_on_text_free_input_is_one_error_line(tmp_path):
    """`winnow tokenize` on documents without text says so (exit 2), never a traceback."""
    source = tmp_path / "blank.jsonl"
    source.write_text(json.dumps({"id": "a", "text": ""}) + "\n")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "winnow"), "tokenize", str(source), "-o", str(tmp_path / "tok")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: tokenize:"), proc.stderr
