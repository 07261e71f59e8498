"""``winnow filter score``: score a JSONL file line by line with a policy.

One output line per input line, in order: ``id``, ``action``, ``categories``, ``lang``, ``spans``,
``text`` only when redacted. A line that is not a JSON object with a string ``text`` becomes
``{"line": n, "id": ..., "action": "error", "error": "..."}``: never a crash, never a skipped line.
The output is written to a temporary file and renamed into place when complete.

``score_file`` is the command's library call: it checks the paths and options first (a
``ScoreInputError`` or ``PolicyError`` names what is wrong), falls back to the shipped policy, and
returns a summary that says which mode judged the file, how many documents there were (0 for an
empty file) and why documents were dropped, so a pretrain-mode surprise is visible.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from filters.engine import Filter, Verdict
from filters.policy import Policy, default_policy_path
from kit.files import atomic_write

__all__ = ["MODES", "ScoreInputError", "ScoreSummary", "score_file", "score_jsonl"]

MODES = {
    "pretrain": (
        "curating training data: every category that applies to pretrain, including low_quality "
        "(Gopher/C4/FineWeb heuristics, which drop short texts) and language"
    ),
    "runtime": "checking model output: only the categories that apply at runtime (harm, PII, secrets)",
}
MAX_BATCH_SIZE = 65_536
# A longer line is one error record, read past in pieces: one huge line must not take all memory.
MAX_LINE_CHARS = 64 << 20


class ScoreInputError(ValueError):
    """An input, output or option of ``score_file`` that cannot work; the message names it."""


@dataclass(frozen=True)
class ScoreSummary:
    """What ``score_file`` did: the policy and mode used, and the counts of the output lines."""

    input: str
    output: str
    policy: str
    mode: str
    documents: int
    errors: int
    actions: dict[str, int] = field(default_factory=dict)
    dropped_by: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def note(self) -> str:
        """A sentence for the user when the result would otherwise surprise ("" when none)."""
        if self.documents == 0 and self.errors == 0:
            return f"{self.input} has no lines: nothing was scored ({self.output} is empty)"
        low = self.dropped_by.get("low_quality", 0)
        if self.mode == "pretrain" and low:
            return (
                f"{low} of {self.documents} documents dropped as low_quality: mode pretrain judges "
                "training data (short texts fail the quality heuristics); --mode runtime checks only "
                "harm, PII and secrets"
            )
        return ""


def score_file(
    in_path: str | Path,
    out_path: str | Path,
    policy_path: str | Path | None = None,
    mode: str = "pretrain",
    batch_size: int = 256,
) -> ScoreSummary:
    """Check the arguments, then score ``in_path`` into ``out_path``; the shipped policy when none is given."""
    _check_args(in_path, out_path, mode, batch_size)
    policy = Path(policy_path) if policy_path is not None else default_policy_path()
    actions, reasons = _score(Policy.load(policy), mode, in_path, out_path, batch_size)
    errors = actions.pop("error", 0)
    return ScoreSummary(
        input=str(in_path),
        output=str(out_path),
        policy=str(policy),
        mode=mode,
        documents=sum(actions.values()),
        errors=errors,
        actions=dict(sorted(actions.items())),
        dropped_by=dict(sorted(reasons.items())),
    )


def score_jsonl(
    policy_path: str | Path,
    in_path: str | Path,
    out_path: str | Path,
    mode: str = "pretrain",
    batch_size: int = 256,
) -> dict[str, int]:
    """Score every line of ``in_path`` into ``out_path``; returns counts per action (and "error")."""
    _check_args(in_path, out_path, mode, batch_size)
    actions, _ = _score(Policy.load(policy_path), mode, in_path, out_path, batch_size)
    return dict(actions)


def _check_args(in_path: str | Path, out_path: str | Path, mode: str, batch_size: int) -> None:
    """Every argument a user gives, checked before any model loads."""
    if mode not in MODES:
        raise ScoreInputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= MAX_BATCH_SIZE
    ):
        raise ScoreInputError(f"batch size must be from 1 to {MAX_BATCH_SIZE}, got {batch_size!r}")
    _check_paths(Path(in_path), Path(out_path))


def _check_paths(in_path: Path, out_path: Path) -> None:
    """Refuse, before any model loads, an input that cannot be read or an output that would clobber it."""
    if not in_path.exists():
        raise ScoreInputError(f"input file not found: {in_path}")
    if in_path.is_dir():
        raise ScoreInputError(f"input {in_path} is a directory; give a JSONL file")
    try:
        in_path.open("rb").close()
    except OSError as e:
        raise ScoreInputError(f"cannot read input {in_path}: {e.strerror}") from None
    if out_path.is_dir():
        raise ScoreInputError(f"output {out_path} is a directory; give a file name with -o")
    if out_path.exists() and out_path.resolve() == in_path.resolve():
        raise ScoreInputError(f"output {out_path} is the input file; write the scores to another file")


def _bounded_lines(stream: IO[str], limit: int) -> Iterator[str | None]:
    """The lines of `stream`; None in place of a line longer than `limit`, which is skipped in pieces."""
    while line := stream.readline(limit + 1):
        if len(line) <= limit or line.endswith("\n"):
            yield line
            continue
        while (rest := stream.readline(limit)) and not rest.endswith("\n"):
            pass
        yield None


def _parse(line: str) -> tuple[Any, str, str | None] | str:
    """(id, text, url) or an error message."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as e:
        return f"invalid JSON: {e}"
    if not isinstance(obj, dict):
        return "a line must be a JSON object"
    text = obj.get("text")
    if not isinstance(text, str):
        return "missing or non-string 'text'"
    url = obj.get("url") if isinstance(obj.get("url"), str) else None
    return obj.get("id"), text, url


def _record(doc_id: Any, v: Verdict) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": doc_id,
        "action": v.action,
        "categories": v.categories,
        "lang": v.lang,
        "spans": [list(s) for s in v.spans],
    }
    if v.action == "redact":
        rec["text"] = v.text
    if v.reason:
        rec["reason"] = v.reason
    if v.skipped:  # dropped before these detectors ran: the categories they feed hold earlier evidence only
        rec["skipped"] = v.skipped
    return rec


def _open_output(stack: contextlib.ExitStack, out_path: Path) -> IO[str]:
    """The output, written atomically (`kit.files.atomic_write`: renamed into place when complete,
    permissions 0666 & ~umask like every other file winnow writes)."""
    try:
        return stack.enter_context(atomic_write(out_path, "w", encoding="utf-8"))
    except OSError as e:
        raise ScoreInputError(f"cannot write output {out_path}: {e.strerror}") from None


def _score(
    policy: Policy, mode: str, in_path: str | Path, out_path: str | Path, batch_size: int
) -> tuple[Counter[str], Counter[str]]:
    """Write one record per input line; counts per action (and "error") and per drop reason.

    The detectors (seconds to load) are built at the first text, so an empty file returns at once."""
    out_path = Path(out_path)
    filt = functools.cache(lambda: Filter(policy, mode=mode))
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    with contextlib.ExitStack() as stack:
        out = _open_output(stack, out_path)
        inp = stack.enter_context(open(in_path, encoding="utf-8", errors="replace"))
        pending: list[tuple[int, Any, str | None]] = []  # (line no, id, error) in order
        batch: list[tuple[Any, str, str | None]] = []

        def flush() -> None:
            verdicts = iter(filt().check_batch([b[1] for b in batch], [b[2] for b in batch]) if batch else [])
            for line_no, doc_id, err in pending:
                if err is not None:
                    rec = {"line": line_no, "id": doc_id, "action": "error", "error": err}
                else:
                    rec = _record(doc_id, next(verdicts))
                counts[rec["action"]] += 1
                if rec["action"] == "drop":
                    reasons[rec["reason"]] += 1
                out.write(json.dumps(rec, ensure_ascii=True) + "\n")
            pending.clear()
            batch.clear()

        for line_no, line in enumerate(_bounded_lines(inp, MAX_LINE_CHARS), start=1):
            parsed = _parse(line) if line is not None else f"line longer than {MAX_LINE_CHARS:,} characters"
            if isinstance(parsed, str):
                pending.append((line_no, None, parsed))
            else:
                pending.append((line_no, parsed[0], None))
                batch.append(parsed)
            if len(pending) >= batch_size:  # bounds memory for runs of bad lines too
                flush()
        flush()
    return counts, reasons
