"""The shipped language-ID fixture (tests/fixtures/langid): complete, attributed, and checked on use."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path

import pytest

from tests.langid_data import LANGID_FIXTURES, _manifest, langid_file

NOT_DATA = {"build.py", "ATTRIBUTION.md", "MANIFEST.sha256"}


def _data_files() -> dict[str, Path]:
    return {
        p.name: p
        for p in sorted(LANGID_FIXTURES.iterdir())
        if p.is_file() and p.name not in NOT_DATA and p.suffix != ".pyc"
    }


def test_manifest_lists_exactly_the_files_with_their_hashes():
    manifest = _manifest(LANGID_FIXTURES)
    files = _data_files()
    assert sorted(manifest) == sorted(files)
    for name, path in files.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest[name], name


def test_every_file_is_attributed_with_the_cc_by_licence():
    text = (LANGID_FIXTURES / "ATTRIBUTION.md").read_text(encoding="utf-8")
    rows = [
        r.split("|")[1].strip()
        for r in text.splitlines()
        if r.startswith("| ") and not r.startswith("| file")
    ]
    assert sorted(_data_files()) == sorted(rows)
    assert "All corpora provided for download are licensed under CC BY." in text
    assert "Universität Leipzig" in text and "lingua-py" in text


def test_the_slice_holds_what_the_tests_read():
    with langid_file("lingua_sentences_75lang_250each.tsv").open(encoding="utf-8", newline="") as fh:
        sentences = Counter(r["lang"] for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    with langid_file("lingua_word_pairs_75lang_100each.tsv").open(encoding="utf-8", newline="") as fh:
        pairs = Counter(r["lang"] for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    # test_langid reads the odd rows of the first 80 per language and all 100 word pairs;
    # test_filters_classifiers_quality reads English sentences up to row 90.
    assert len(sentences) == len(pairs) == 75
    assert min(sentences.values()) >= 80 and sentences["en"] >= 90
    assert set(pairs.values()) == {100}


@pytest.fixture
def fixture_copy(tmp_path: Path) -> Path:
    (tmp_path / "a.tsv").write_text("lang\ttext\nen\tHello there.\n", encoding="utf-8")
    digest = hashlib.sha256((tmp_path / "a.tsv").read_bytes()).hexdigest()
    (tmp_path / "MANIFEST.sha256").write_text(f"{digest}  a.tsv\n{'0' * 64}  gone.tsv\n", encoding="utf-8")
    return tmp_path


def test_a_listed_unaltered_file_is_returned(fixture_copy: Path):
    assert langid_file("a.tsv", fixture_copy) == fixture_copy / "a.tsv"


@pytest.mark.parametrize(
    ("name", "why"),
    [("gone.tsv", "is missing"), ("other.tsv", "not listed"), ("altered.tsv", "differs from its sha256")],
)
def test_a_missing_unlisted_or_altered_file_fails_instead_of_skipping(
    fixture_copy: Path, name: str, why: str
):
    if name == "altered.tsv":
        (fixture_copy / name).write_text("lang\ttext\nen\tchanged\n", encoding="utf-8")
        manifest = fixture_copy / "MANIFEST.sha256"
        manifest.write_text(
            manifest.read_text(encoding="utf-8") + f"{'1' * 64}  altered.tsv\n", encoding="utf-8"
        )
    with pytest.raises(pytest.fail.Exception, match=why) as info:
        langid_file(name, fixture_copy)
    assert "build.py" in str(info.value)


def test_a_missing_manifest_fails(fixture_copy: Path):
    (fixture_copy / "MANIFEST.sha256").unlink()
    with pytest.raises(pytest.fail.Exception, match=r"MANIFEST\.sha256 is missing"):
        langid_file("a.tsv", fixture_copy)
