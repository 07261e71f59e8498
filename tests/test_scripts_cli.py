"""The training and data scripts' command lines: a user mistake is one `error:` line and exit 2 before any
work, --data always names the shared data folder, long work shows progress on stderr.

Nothing is trained: every case stops at a check, or at a stub put where the long work would begin. The data
folders are written in tmp_path (empty or header-only files: the checks look only for their presence)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from filters.detectors.harm import CATEGORIES
from scripts import (
    build_sample,
    cluster_test,
    harm_data,
    train_harm,
    train_harm_encoder,
    train_langid_rare,
    train_toxicity,
    tune_encoder_gate,
)

ROOT = Path(__file__).resolve().parents[1]


class Stop(Exception):
    """Raised by a stub where the long work would begin."""


def _files(root: Path, rels: tuple[str, ...] | list[str], text: str = "") -> Path:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _harm_data(root: Path) -> Path:
    """A folder that passes train_harm's presence check (the files are empty)."""
    return _files(root, harm_data.REQUIRED_FILES)


def _toxicity_data(root: Path) -> Path:
    """A folder with what train_toxicity.py reads, a few rows each."""
    tox = root / "toxicity"
    tox.mkdir(parents=True)
    (tox / "davidson_labeled_data.csv").write_text(
        "count,hate_speech,offensive_language,neither,class,tweet\n"
        + "".join(f"3,0,0,3,2,the garden needs water on day {i}\n" for i in range(20)),
        encoding="utf-8",
    )
    (tox / "toxigen_seed_sentences.csv").write_text(
        "text,label\n" + "".join(f"plants grow in the light {i},neutral\n" for i in range(20)),
        encoding="utf-8",
    )
    (root / "clean_text" / "gutenberg").mkdir(parents=True)
    (root / "clean_text" / "tinyshakespeare_input.txt").write_text(
        "To be or not to be, that is the question.\n" * 300, encoding="utf-8"
    )
    return root


def _one_error_line(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    for w in words:
        assert w in err[0], (w, err[0])
    return err[0]


# ------------------------------------------------------------------ train_langid_rare.py


def test_train_langid_rare_runs_by_path_and_has_data() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_langid_rare.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT / "scripts",
    )
    assert proc.returncode == 0, proc.stderr
    assert "--data" in proc.stdout


def test_train_langid_rare_missing_data_is_one_error_line(tmp_path, capsys) -> None:
    code = train_langid_rare.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.npz")])
    assert code == 2
    _one_error_line(capsys, "lingua_sentences", "--data")


def test_train_langid_rare_out_folder_is_one_error_line(tmp_path, capsys) -> None:
    _files(tmp_path / "data" / "langid", train_langid_rare.FILES)
    assert train_langid_rare.main(["--data", str(tmp_path / "data"), "--out", str(tmp_path)]) == 2
    _one_error_line(capsys, "--out", "is a folder")


# ------------------------------------------------------------------ train_toxicity.py


def test_train_toxicity_missing_data_folder_is_one_error_line(tmp_path, capsys) -> None:
    code = train_toxicity.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert code == 2
    _one_error_line(capsys, "davidson_labeled_data.csv", "--data")
    assert not (tmp_path / "out").exists()


def test_train_toxicity_data_is_the_shared_folder_not_its_toxicity_subfolder(tmp_path, capsys) -> None:
    _toxicity_data(tmp_path / "data")
    code = train_toxicity.main(["--data", str(tmp_path / "data" / "toxicity"), "--out", str(tmp_path / "o")])
    assert code == 2
    line = _one_error_line(capsys, "toxicity subfolder")
    assert line.endswith(f"--data {tmp_path / 'data'}")


def test_train_toxicity_data_without_davidson_is_one_error_line(tmp_path, capsys) -> None:
    data = _toxicity_data(tmp_path / "data")
    (data / "toxicity" / "davidson_labeled_data.csv").unlink()
    assert train_toxicity.main(["--data", str(data), "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, "davidson_labeled_data.csv")


@pytest.mark.parametrize("out", ["a_file", "a_file/models"])
def test_train_toxicity_bad_out_is_one_error_line_before_work(tmp_path, capsys, out) -> None:
    data = _toxicity_data(tmp_path / "data")
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    assert train_toxicity.main(["--data", str(data), "--out", str(tmp_path / out)]) == 2
    _one_error_line(capsys, "--out", "a_file")


def test_train_toxicity_shows_progress_before_fitting(tmp_path, capsys, monkeypatch) -> None:
    import fasttext

    def stop(**_kwargs):
        raise Stop

    monkeypatch.setattr(fasttext, "train_supervised", stop)
    with pytest.raises(Stop):
        train_toxicity.main(["--data", str(_toxicity_data(tmp_path / "data")), "--out", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert "examples: train" in captured.err and "fitting fastText" in captured.err
    assert captured.out == ""


# ------------------------------------------------------------------ train_harm.py, train_harm_encoder.py


@pytest.mark.parametrize("out", ["a_file", "a_file/models"])
def test_train_harm_bad_out_is_one_error_line_before_work(tmp_path, capsys, out) -> None:
    data = _harm_data(tmp_path / "data")
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    assert train_harm.main(["--data", str(data), "--out", str(tmp_path / out), "--fast-only"]) == 2
    _one_error_line(capsys, "--out", "a_file")


def test_train_harm_shows_progress_before_featurizing(tmp_path, capsys, monkeypatch) -> None:
    rows = [
        train_harm.Row(
            f"text {split} {c} {v}", tuple(v if k == c else 0 for k in range(len(CATEGORIES))), "s", split
        )
        for split in ("train", "dev")
        for c in range(len(CATEGORIES))
        for v in (0, 1)
    ]
    monkeypatch.setattr(train_harm, "load_all", lambda _data: rows)

    def stop(*_args):
        raise Stop

    monkeypatch.setattr(train_harm, "design_matrix", stop)
    with pytest.raises(Stop):
        train_harm.main(
            ["--data", str(_harm_data(tmp_path / "data")), "--out", str(tmp_path / "o"), "--fast-only"]
        )
    err = capsys.readouterr().err
    assert f"loaded {len(rows)} rows" in err and "featurizing" in err


def test_train_harm_encoder_without_fast_tier_says_to_train_it_first(tmp_path, capsys) -> None:
    data = _harm_data(tmp_path / "data")
    (tmp_path / "out").mkdir()
    assert train_harm_encoder.main(["--data", str(data), "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, "harm_fast.json", "scripts/train_harm.py --out", "--fast-only")


# ------------------------------------------------------------------ build_sample.py


@pytest.mark.parametrize("flag", ["--data", "--shared"])
def test_build_sample_missing_data_is_one_error_line(tmp_path, capsys, flag) -> None:
    assert build_sample.main([flag, str(tmp_path / "nowhere")]) == 2
    _one_error_line(capsys, "nowhere", "--data")


# ------------------------------------------------------------------ cluster_test.py, tune_encoder_gate.py


@pytest.mark.parametrize("seconds", ["0", "-5", "nan"])
def test_cluster_test_timeout_must_be_positive(capsys, monkeypatch, seconds) -> None:
    monkeypatch.setattr(cluster_test, "run", lambda _args: 0)  # never start Ray
    with pytest.raises(SystemExit) as exc:
        cluster_test.main([f"--timeout={seconds}"])
    assert exc.value.code == 2
    assert "--timeout" in capsys.readouterr().err


def test_tune_encoder_gate_out_folder_is_one_error_line(tmp_path, capsys) -> None:
    data = _harm_data(tmp_path / "data")
    with pytest.raises(SystemExit) as exc:
        tune_encoder_gate.main(["--data", str(data), "--out", str(tmp_path)])
    assert exc.value.code == 2
    _one_error_line(capsys, "--out", "is a folder")


def test_tune_encoder_gate_refuses_an_out_it_would_rename(tmp_path, capsys) -> None:
    """The results writer writes <stem>.json: `--out x.txt` used to write x.json beside it."""
    data = _harm_data(tmp_path / "data")
    assert tune_encoder_gate.main(["--data", str(data), "--out", str(tmp_path / "x.txt")]) == 2
    _one_error_line(capsys, "--out", "must end in .json")
    assert not (tmp_path / "x.json").exists()
