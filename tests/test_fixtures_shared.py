"""The shipped data fixtures: complete, attributed, small, and the only data the tests read."""

from __future__ import annotations

import fnmatch
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DATA = REPO_ROOT / "tests" / "fixtures" / "shared"

NOT_DATA = {"build.py", "ATTRIBUTION.md", "MANIFEST.sha256"}
MAX_FIXTURE_BYTES = 6 * 2**20  # the tests' slices; larger data belongs to ../shared/data and the benchmarks
OUTSIDE_DATA = re.compile(r"WINNOW_SHARED_DATA|[\"']\.\./shared|[\"']shared[\"']\s*/|shared/data[\"']")
# This file names the pattern.
EXEMPT = {Path(__file__).name}
BRACES = re.compile(r"\{([^{}]{1,200})\}")


def _manifest() -> dict[str, str]:
    lines = (FIXTURE_DATA / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines if line)}


def _data_files() -> list[Path]:
    return [
        p
        for p in sorted(FIXTURE_DATA.rglob("*"))
        if p.is_file() and p.name not in NOT_DATA and "__pycache__" not in p.parts
    ]


def _expand(pattern: str) -> list[str]:
    """`a/{x,y}.txt` -> [`a/x.txt`, `a/y.txt`] (the table's shorthand for several files)."""
    m = BRACES.search(pattern)
    if not m:
        return [pattern]
    return [
        e for alt in m.group(1).split(",") for e in _expand(pattern[: m.start()] + alt + pattern[m.end() :])
    ]


def _attributed_patterns() -> list[str]:
    rows = (FIXTURE_DATA / "ATTRIBUTION.md").read_text(encoding="utf-8").splitlines()
    cells = [r.split("|")[1].strip() for r in rows if r.startswith("| ") and not r.startswith("| file")]
    return [p for cell in cells for p in _expand(cell)]


def test_manifest_lists_exactly_the_files_with_their_hashes():
    manifest = _manifest()
    on_disk = {p.relative_to(FIXTURE_DATA).as_posix(): p for p in _data_files()}
    assert sorted(manifest) == sorted(on_disk)
    for name, path in on_disk.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest[name], name


def test_every_file_has_its_source_and_licence_in_attribution():
    patterns = _attributed_patterns()
    unattributed = [name for name in _manifest() if not any(fnmatch.fnmatchcase(name, p) for p in patterns)]
    assert not unattributed, unattributed


def test_fixtures_stay_small():
    assert sum(p.stat().st_size for p in _data_files()) <= MAX_FIXTURE_BYTES


def test_no_test_reads_data_outside_the_repository():
    offenders = [
        f"{path.name}:{n}"
        for path in sorted((REPO_ROOT / "tests").glob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()[:5000], 1)
        if path.name not in EXEMPT and OUTSIDE_DATA.search(line[:1000])
    ]
    assert not offenders, offenders


@pytest.fixture
def clone_missing_a_fixture(tmp_path: Path) -> Path:
    """A repository layout with this conftest whose manifest lists a file that is not there."""
    tests = tmp_path / "tests"
    data = tests / "fixtures" / "shared"
    data.mkdir(parents=True)
    (tests / "conftest.py").write_bytes((REPO_ROOT / "tests" / "conftest.py").read_bytes())
    (data / "present.txt").write_text("here\n", encoding="utf-8")
    (data / "MANIFEST.sha256").write_text(f"{'0' * 64}  present.txt\n{'0' * 64}  gone/missing.csv\n")
    (tests / "test_uses_data.py").write_text(
        "def test_reads(shared_data):\n    assert (shared_data / 'present.txt').is_file()\n"
    )
    return tmp_path


def test_a_missing_fixture_fails_the_test_instead_of_skipping_it(clone_missing_a_fixture: Path):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider", "tests"],
        cwd=clone_missing_a_fixture,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 error" in run.stdout and "skipped" not in run.stdout, run.stdout
    assert "gone/missing.csv" in run.stdout and "build.py" in run.stdout, run.stdout
