"""benchmarks/compare_harm.py: paired differences between two harm variants on the same held-out rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.compare_harm import CompareError, Outcomes, compare, main

CATS = ["hate", "harassment", "sexual", "sexual_minors", "violence", "self_harm", "illicit", "profanity"]


def _rows_file(path: Path, prose_fires: int, chat_hits: int) -> Path:
    """40 chat prompts (harmful, the first `chat_hits` caught by hate) and 50 clean prose documents
    (the first `prose_fires` fire violence)."""
    rows, fired = [], []
    for i in range(40):
        rows.append({"key": f"c{i}", "source": "advbench", "labels": "1-------", "harmful": 1})
        fired.append("01" if i < chat_hits else "00")
    for i in range(50):
        rows.append(
            {"key": f"p{i}", "source": "prose:wikitext2_test.txt", "labels": "00000000", "harmful": 0}
        )
        fired.append("10" if i < prose_fires else "00")
    path.write_text(json.dumps({"categories": CATS, "rows": rows, "fired": {"shipped_confirm": fired}}))
    return path


def _by_name(res: dict) -> dict[str, dict]:
    return {r["figure"]: r for r in res["figures"]}


def test_the_same_outcomes_differ_by_nothing(tmp_path) -> None:
    a = Outcomes([_rows_file(tmp_path / "a.json", 5, 30)], "shipped_confirm")
    res = _by_name(compare(a, a, min_positives=30))
    assert res["clean prose FPR"]["base"] == 0.1 and res["clean prose FPR"]["difference_ci95"] == [0.0, 0.0]
    assert res["chat prompts any-harm F1"]["difference"] == 0.0
    assert res["hate pooled F1"]["rows"] == 90  # the prose documents are hate negatives too


def test_a_paired_change_is_measured_with_its_interval(tmp_path) -> None:
    base = Outcomes([_rows_file(tmp_path / "a.json", 5, 30)], "shipped_confirm")
    variant = Outcomes([_rows_file(tmp_path / "b.json", 15, 30)], "shipped_confirm")
    prose = _by_name(compare(base, variant, min_positives=30))["clean prose FPR"]
    assert prose["variant"] == 0.3 and prose["difference"] == pytest.approx(0.2)
    lo, hi = prose["difference_ci95"]
    assert 0.0 < lo < 0.2 < hi  # ten more documents of fifty: clearly more than zero


def test_only_the_rows_both_files_hold_are_compared(tmp_path, capsys) -> None:
    """A variant that trains on a former test source has fewer test rows: the rest are paired."""
    base = _rows_file(tmp_path / "a.json", 5, 30)
    fewer = tmp_path / "b.json"
    data = json.loads(base.read_text())
    data["rows"], data["fired"]["shipped_confirm"] = data["rows"][1:], data["fired"]["shipped_confirm"][1:]
    fewer.write_text(json.dumps(data))
    res = _by_name(compare(Outcomes([base], "shipped_confirm"), Outcomes([fewer], "shipped_confirm"), 30))
    assert (
        res["chat prompts any-harm F1"]["rows"] == 39 and res["chat prompts any-harm F1"]["difference"] == 0.0
    )
    assert main(["--base", str(base), "--variant", str(fewer)]) == 0
    assert "left out: 1 base, 0 variant" in capsys.readouterr().out


def test_two_configurations_of_one_file_are_compared(tmp_path, capsys) -> None:
    path = _rows_file(tmp_path / "a.json", 5, 30)
    data = json.loads(path.read_text())
    data["fired"]["fast_tier_only"] = ["10"] * len(data["rows"])  # fires violence on every row
    path.write_text(json.dumps(data))
    out = tmp_path / "cmp.json"
    assert (
        main(
            [
                "--base",
                str(path),
                "--variant",
                str(path),
                "--base-config",
                "fast_tier_only",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    doc = json.loads(out.read_text())
    res = doc["figures"]
    assert res["base_config"] == "fast_tier_only" and res["config"] == "shipped_confirm"
    assert doc["code"]["commit"] and "bootstrap" in doc["method"]  # a results file like every benchmark's
    prose = _by_name(res)["clean prose FPR"]
    assert (prose["base"], prose["variant"]) == (1.0, 0.1)


def test_a_text_held_twice_is_paired_occurrence_by_occurrence(tmp_path) -> None:
    """Two rows with one key (a prompt a source holds twice): the n-th copy meets the n-th copy, so a
    variant that differs on the second copy only is seen to differ on exactly one row."""
    base = _rows_file(tmp_path / "a.json", 5, 30)
    data = json.loads(base.read_text())
    data["rows"][41]["key"] = data["rows"][40]["key"]  # the first two prose documents share a key
    base.write_text(json.dumps(data))
    variant = tmp_path / "b.json"
    data["fired"]["shipped_confirm"][41] = "00"  # the second copy no longer fires
    variant.write_text(json.dumps(data))
    res = compare(Outcomes([base], "shipped_confirm"), Outcomes([variant], "shipped_confirm"), 30)
    assert res["left_out"] == {"base": 0, "variant": 0}
    assert _by_name(res)["clean prose FPR"]["difference"] == pytest.approx(-1 / 50)


def test_files_of_other_samples_or_not_rows_files_are_refused(tmp_path, capsys) -> None:
    base = _rows_file(tmp_path / "a.json", 5, 30)
    other_sample = tmp_path / "b.json"
    data = json.loads(base.read_text())
    other_sample.write_text(json.dumps({**data, "offset": 300}))
    results_file = tmp_path / "eval_harm.json"
    results_file.write_text(json.dumps({"shipped_confirm": {}}))
    assert main(["--base", str(base), "--variant", str(other_sample)]) == 2
    assert main(["--base", str(base), "--variant", str(results_file)]) == 2
    err = capsys.readouterr().err
    assert "come from other samples" in err and "is not an eval_harm --rows file" in err


def test_files_without_shared_rows_or_missing_are_refused(tmp_path, capsys) -> None:
    base = _rows_file(tmp_path / "a.json", 5, 30)
    other = tmp_path / "b.json"
    data = json.loads(base.read_text())
    for row in data["rows"]:
        row["key"] = "x" + row["key"]
    other.write_text(json.dumps(data))
    with pytest.raises(CompareError, match="share no rows"):
        compare(Outcomes([base], "shipped_confirm"), Outcomes([other], "shipped_confirm"), 30)
    assert main(["--base", str(base), "--variant", str(other)]) == 2
    assert main(["--base", str(base), "--variant", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert "error: the base and variant files share no rows" in err and "error: no such rows file" in err
