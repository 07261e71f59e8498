"""Config validation: every mistake names its field."""

from __future__ import annotations

import textwrap

import pytest

from pipeline.config import ConfigError, load_config, parse_config
from winnow.cli import main


def write(tmp_path, text: str):
    p = tmp_path / "run.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_default_config_is_valid(repo_root):
    cfg = load_config(repo_root / "configs" / "default.yaml")
    assert cfg.stages[0] == "ingest" and cfg.stages[-1] == "tokenize"
    assert cfg.resolve("policy.yaml") == str(repo_root / "configs" / "policy.yaml")


def test_unknown_key_names_the_field(tmp_path):
    p = write(
        tmp_path,
        """
        stages: [ingest]
        ingest:
          sources: [{uri: a.jsonl}]
          max_doc_bytez: 10
    """,
    )
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert "ingest.max_doc_bytez: unknown field" in str(e.value)


def test_bad_value_names_the_field():
    with pytest.raises(ConfigError) as e:
        parse_config({"stages": ["ingest"], "ingest": {"sources": [{"uri": "x", "sha256": "nothex"}]}})
    assert "ingest.sources.0.sha256" in str(e.value)


def test_stage_order_rules():
    base = {"ingest": {"sources": [{"uri": "x"}]}}
    with pytest.raises(ConfigError, match="first stage must be 'ingest'"):
        parse_config({**base, "stages": ["filter", "ingest"]})
    with pytest.raises(ConfigError, match="unknown stage"):
        parse_config({**base, "stages": ["ingest", "magic"]})
    with pytest.raises(ConfigError, match="'tokenize' must be the last stage"):
        parse_config({**base, "stages": ["ingest", "tokenize", "exact_dedup"]})


def test_source_needs_exactly_one_kind():
    with pytest.raises(ConfigError, match="exactly one of"):
        parse_config({"stages": ["ingest"], "ingest": {"sources": [{}]}})
    cc = {"crawl": "CC-MAIN-2024-10", "kind": "wet", "files": "0:2"}
    cfg = parse_config({"stages": ["ingest"], "ingest": {"sources": [{"commoncrawl": cc}]}})
    assert cfg.ingest.sources[0].commoncrawl.crawl == "CC-MAIN-2024-10"
    with pytest.raises(ConfigError, match=r"commoncrawl\.crawl"):
        parse_config(
            {"stages": ["ingest"], "ingest": {"sources": [{"commoncrawl": {**cc, "crawl": "2024"}}]}}
        )


def test_library_sections_are_validated_with_their_names(tmp_path):
    p = write(
        tmp_path,
        """
        stages: [ingest, near_dedup, tokenize]
        ingest: {sources: [{uri: a.jsonl}]}
        near_dedup: {minhash: {threshold: 1.5}}
        tokenize: {seq_len: 0, colour: blue}
    """,
    )
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert "near_dedup.minhash.threshold" in msg
    assert "tokenize.seq_len" in msg
    assert "tokenize.colour: unknown field" in msg


def test_cli_validate_reports_errors_and_exit_code(tmp_path, capsys, repo_root):
    assert main(["validate", str(repo_root / "configs" / "default.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    p = write(tmp_path, "stages: [ingest]\ningest: {sources: [{uri: a}], retries: -1}\n")
    assert main(["validate", str(p)]) == 2
    assert "ingest.retries" in capsys.readouterr().err


def test_a_mistyped_key_suggests_the_closest_known_key(tmp_path):
    """Issue 12: a typo got `unknown field` and no hint."""
    p = write(
        tmp_path,
        """
        stages: [ingest, near_dedup, tokenize]
        ingest:
          sources: [{uri: a.jsonl, text_feild: body}]
          part_row: 10
        exact_dedup: {survivr: [length]}
    """,
    )
    with pytest.raises(ConfigError) as e:
        load_config(p)
    lines = str(e.value).splitlines()
    assert "  ingest.sources.0.text_feild: unknown field; did you mean 'text_field'?" in lines
    assert "  ingest.part_row: unknown field; did you mean 'part_rows'?" in lines
    assert "  exact_dedup.survivr: unknown field; did you mean 'survivor'?" in lines


def test_a_mistyped_key_in_a_library_section_suggests_too(tmp_path):
    p = write(
        tmp_path,
        """
        stages: [ingest, near_dedup, tokenize]
        ingest: {sources: [{uri: a.jsonl}]}
        near_dedup: {minhash: {treshold: 0.8}}
        tokenize: {seq_lenn: 64, colour: blue}
    """,
    )
    with pytest.raises(ConfigError) as e:
        load_config(p)
    lines = str(e.value).splitlines()
    assert "  near_dedup.minhash.treshold: unknown field; did you mean 'threshold'?" in lines
    assert "  tokenize.seq_lenn: unknown field; did you mean 'seq_len'?" in lines
    assert "  tokenize.colour: unknown field" in lines  # nothing close: no guess


def test_a_mistyped_required_key_is_not_also_reported_missing(tmp_path):
    p = write(tmp_path, "stages: [ingest]\ningest: {sourcs: [{uri: a.jsonl}]}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    lines = str(e.value).splitlines()
    assert lines[1:] == ["  ingest.sourcs: unknown field; did you mean 'sources'?"]


def test_a_mistyped_top_level_key_and_stage_name(tmp_path):
    with pytest.raises(ConfigError) as e:
        parse_config({"stage": ["ingest"], "ingest": {"sources": [{"uri": "x"}]}, "ray": {"num_cpu": 2}})
    assert "  stage: unknown field; did you mean 'stages'?" in str(e.value)
    assert "  ray.num_cpu: unknown field; did you mean 'num_cpus'?" in str(e.value)
    with pytest.raises(
        ConfigError, match=r"unknown stage\(s\) \['near_dedupe'\]; did you mean 'near_dedup'\?"
    ):
        parse_config({"stages": ["ingest", "near_dedupe"], "ingest": {"sources": [{"uri": "x"}]}})
