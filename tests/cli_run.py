"""The installed `winnow` run as a newcomer runs it, for the first-hour tests.

`winnow(tmp_path, *args)` runs in tmp_path with Ray's temp dir inside it, so "refused before Ray starts"
is checked directly (no Ray session directory appears), and without the caller's RAY_ADDRESS unless
`env` sets one. `one_error` is the single `error:` line of a refusal: exit 2, no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

WINNOW = str(Path(sys.executable).parent / "winnow")
FAST_S = 10.0  # well under a Ray start (~19 s on 2 cores)


def winnow(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, limit_s: float = FAST_S
) -> subprocess.CompletedProcess[str]:
    """`winnow ARGS` in tmp_path; fails the test if it took longer than `limit_s` or started Ray."""
    base = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    full = {**base, "RAY_TMPDIR": str(tmp_path / "ray"), **(env or {})}
    start = time.monotonic()
    proc = subprocess.run(
        [WINNOW, *args], cwd=tmp_path, env=full, capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - start
    assert elapsed < limit_s, f"took {elapsed:.1f}s: {proc.stderr[-2000:]}"
    assert not (tmp_path / "ray").exists(), "Ray was started"
    return proc


def one_error(proc: subprocess.CompletedProcess[str], alone: bool = False) -> str:
    """The single `error:` line of a refused command (exit 2, no traceback); `alone`: nothing else on
    stderr either."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    if alone:
        assert lines == errors, proc.stderr
    return errors[0]
