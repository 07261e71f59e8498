"""The harm training script: byte-identical reruns, and one-line errors for bad data folders.

A tiny shared-data folder is written in tmp_path (no real harm data), so these tests are fast and
self-contained; the real model is exercised in test_harm_detector.py."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

from filters.detectors.harm import CATEGORIES, HarmModel
from scripts.harm_data import HEADS_ONLY_SOURCES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_harm.py"
PROSE_FILES = (
    "tinyshakespeare_input.txt",
    "gutenberg/pg2701.txt",
    "gutenberg/43429-0.txt",
    "gutenberg/pg12388.txt",
    "gutenberg/jnglb10.txt",
    "gutenberg/43790-0.txt",
    "gutenberg/nqpmr10.txt",
    "gutenberg/31251-0.txt",
    "wikitext2_test.txt",
    "wikitext2_valid.txt",
    "tinystories_head.txt",
)
BENIGN = "the garden needs water and light every morning so the young plants grow strong and green"


def _csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _pack_rows(categories: tuple[str, ...]) -> list[dict]:
    """40 positives per category (a marker word per category) and 120 benign all-0 rows."""
    rows = []
    for c in categories:
        for i in range(40):
            labels = {k: (1 if k == c else None) for k in CATEGORIES}
            rows.append(
                {"id": f"p:{c}:{i}", "text": f"{c}marker token{i} says {c}marker again", "labels": labels}
            )
    for i in range(120):
        rows.append({"id": f"n:{i}", "text": f"{BENIGN} day {i}", "labels": dict.fromkeys(CATEGORIES, 0)})
    for r in rows:
        r.update(harmful=None, kind="chat_message", meta={"conv_id": r["id"]})
    return rows


def write_tiny_data(root: Path, categories: tuple[str, ...] = CATEGORIES) -> Path:
    """The layout train_harm.py reads, with a few hundred synthetic rows."""
    (root / "harm").mkdir(parents=True)
    (root / "harm" / "SOURCES.md").write_text("tiny test data\n", encoding="utf-8")
    with gzip.open(root / "harm" / "convabuse.jsonl.gz", "wt", encoding="utf-8") as f:
        for r in _pack_rows(categories):
            f.write(json.dumps(r) + "\n")
    tox = root / "toxicity"
    _csv(tox / "davidson_labeled_data.csv", ["count", "hate_speech", "offensive_language", "neither", "class", "tweet"],
         [[3, 0, 0, 3, 2, f"{BENIGN} tweet {i}"] for i in range(5)])  # fmt: skip
    _csv(
        tox / "toxigen_seed_sentences.csv",
        ["text", "label", "target_group", "n_prompts"],
        [[BENIGN, "neutral", "x", 1]],
    )
    _csv(tox / "jigsaw_toxic_test_examples_ibm.csv",
         ["comment_text", "toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"],
         [[BENIGN, 0, 0, 0, 0, 0, 0]])  # fmt: skip
    _csv(tox / "wiki_toxicity_nonfuzzed_testset.csv", ["rev_id", "comment", "toxic"], [[1, BENIGN, "False"]])
    for rel in PROSE_FILES:
        path = root / "clean_text" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(f"{BENIGN} line {i} of {rel}" for i in range(200)), encoding="utf-8")
    return root


def run_train(data: Path, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), "--data", str(data), "--out", str(out), "--fast-only"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_training_twice_gives_identical_files_that_load(tmp_path: Path) -> None:
    data = write_tiny_data(tmp_path / "data")
    first, second = run_train(data, tmp_path / "a"), run_train(data, tmp_path / "b")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    names = ("harm_fast.npz", "harm_fast.json", "harm_calibration.json")
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    training = json.loads((tmp_path / "a" / "harm_fast.json").read_text())["training"]
    assert "project_self_harm" in training["rows_per_split"]
    # heads-only sources: the fast tier neither reads nor lists them
    for recorded in (training["rows_per_split"], training["source_split"]):
        assert not HEADS_ONLY_SOURCES & set(recorded)
    model = HarmModel(tmp_path / "a" / "harm_fast.json")
    for cat in CATEGORIES:
        hit = model.score(f"{cat}marker says {cat}marker").scores[cat]
        assert hit > model.score(BENIGN).scores[cat], cat


def _assert_one_error_line(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0]


def test_missing_data_folder_is_one_error_line(tmp_path: Path) -> None:
    proc = run_train(tmp_path / "nowhere", tmp_path / "out")
    _assert_one_error_line(proc, "SOURCES.md", "--data")
    assert not (tmp_path / "out").exists()


def test_category_without_positives_is_one_error_line(tmp_path: Path) -> None:
    # harassment: the project's own rows label self_harm, violence and illicit only (and the fast tier reads only the
    # self-harm ones), so they cannot fill it
    data = write_tiny_data(tmp_path / "data", tuple(c for c in CATEGORIES if c != "harassment"))
    _assert_one_error_line(run_train(data, tmp_path / "out"), "harassment")
    assert not (tmp_path / "out").exists()
