"""The lingua language-ID test sentences, shipped in tests/fixtures/langid (Leipzig corpora, CC BY).

A slice of `../shared/data/langid` (lingua-py's test data: Leipzig Corpora Collection download
corpora, CC BY; see tests/fixtures/langid/ATTRIBUTION.md), cut by that folder's build.py. A file
that is missing or whose sha256 differs from MANIFEST.sha256 fails the calling test, never skips
it, so a plain clone runs these tests and a stale or altered slice cannot pass silently.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import pytest

LANGID_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "langid"


def _manifest(root: Path) -> dict[str, str]:
    """name -> sha256 from `root/MANIFEST.sha256` (empty when the manifest is absent)."""
    path = root / "MANIFEST.sha256"
    if not path.is_file():
        return {}
    rows = [line.split("  ", 1) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return {name: digest for digest, name in rows}


@functools.cache
def _problem(root: Path, name: str) -> str:
    """Why `root/name` cannot be used ('' when it is listed, present and unaltered)."""
    if not (root / "MANIFEST.sha256").is_file():
        return f"{root / 'MANIFEST.sha256'} is missing"
    digest = _manifest(root).get(name)
    path = root / name
    if digest is None:
        return f"{name} is not listed in {root / 'MANIFEST.sha256'}"
    if not path.is_file():
        return f"{path} is missing"
    if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        return f"{path} differs from its sha256 in MANIFEST.sha256"
    return ""


def langid_file(name: str, root: Path = LANGID_FIXTURES) -> Path:
    """`tests/fixtures/langid/<name>`, checked against the manifest; a bad file fails the test."""
    problem = _problem(root, name)
    if problem:
        pytest.fail(
            f"{problem}: restore tests/fixtures/langid from git, or rebuild it with "
            "`python tests/fixtures/langid/build.py` (it reads the shared data folder)",
            pytrace=False,
        )
    return root / name
