"""A benchmark's long-lived child process: it warms up once, then runs one timed pass per `ask()`.

Each side of a comparison lives in its own child pinned to the same core, so both stay equally warm
between interleaved passes. The child prints one JSON line per pass (other output is ignored) and reads
"run" on stdin for the next one; the first JSON line is its ready/warm-up report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


class Child:
    """A side's subprocess (`cmd`); `ask()` runs one timed pass in it and returns its JSON line."""

    def __init__(
        self, name: str, cmd: list[str], env: dict[str, str], cwd: Path, close_timeout_s: float
    ) -> None:
        self.name = name
        self.close_timeout_s = close_timeout_s
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.ready = self._read()

    def _read(self) -> dict:
        while True:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line:
                sys.exit(f"error: {self.name} worker failed (exit {self.proc.wait()})")
            if line.startswith("{"):
                return json.loads(line)

    def ask(self) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=self.close_timeout_s)
