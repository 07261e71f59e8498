"""The lingua language-ID test sentences, the one test input not shipped in tests/fixtures/shared.

They are Leipzig Wortschatz sentences (through pemistahl/lingua-py, Apache-2.0), whose own terms
do not clearly allow redistribution (issue 14), so the tests that need them read `../shared/data`
and FAIL, never skip, when it is absent. Everything else the suite reads is shipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_LANGID = Path(__file__).resolve().parents[2] / "shared" / "data" / "langid"


def langid_file(name: str) -> Path:
    """`../shared/data/langid/<name>`; a missing file fails the calling test."""
    path = SHARED_LANGID / name
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: the language-ID tests read the lingua sentences from ../shared/data "
            "(not shipped: their licence is unsettled); put the shared data beside the repository",
            pytrace=False,
        )
    return path
