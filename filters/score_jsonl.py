"""``winnow filter score``: score a JSONL file line by line with a policy.

One output line per non-blank input line, in order: ``id``, ``action``, ``categories``, ``lang``,
``spans``, ``text`` only when redacted. A line that is not a UTF-8 JSON object with a string ``text``
becomes ``{"line": n, "id": ..., "action": "error", "error": "..."}``: never a crash, never a
silently skipped line (blank lines are no documents and are skipped, as dedup and tokenize do). Its
JSON is read by ``kit.jsonl.parse_object_line``, so a mistake is worded as ingest, dedup and tokenize
word it ("invalid UTF-8 at byte N", "malformed JSON: ...", "expected a JSON object, got list"). The
output is written to a temporary file and renamed into place when complete; ``-`` reads stdin or
writes stdout. Compressed or Parquet input is refused up front by its magic bytes: read as text it
would be nothing but error lines.

``score_file`` is the command's library call: it checks the paths and options first (a
``ScoreInputError`` or ``PolicyError`` names what is wrong), falls back to the shipped policy, and
returns a summary that says which mode judged the file, how many documents there were (0 for an
empty file) and why documents were dropped, so a pretrain-mode surprise is visible.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from filters.engine import Filter, Verdict
from filters.policy import Policy, default_policy_path
from kit.files import atomic_write, split_compression
from kit.jsonl import parse_object_line, text_problem

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
STDIO = "-"  # as input: stdin; as output: stdout
# Bytes a file starts with -> what it is and the command that decompresses it (None: not text at all).
_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed", "zcat"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "zstdcat"),
    (b"BZh", "bzip2-compressed", "bzcat"),
    (b"\xfd7zXZ\x00", "xz-compressed", "xzcat"),
    (b"PAR1", "a Parquet file", None),
)


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
    first_error: str = ""  # "line K: reason" of the first line not scored ("" when every line was)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def unscored(self) -> str:
        """The "N of M lines not scored (first: ...)" line, so error records never pass unnoticed."""
        if not self.errors:
            return ""
        return f"{self.errors:,} of {self.errors + self.documents:,} lines not scored (first: {self.first_error})"

    @property
    def note(self) -> str:
        """A sentence for the user when the result would otherwise surprise ("" when none)."""
        if self.documents == 0 and self.errors == 0:
            empty = "nothing written to stdout" if self.output == STDIO else f"{self.output} is empty"
            return f"{_shown(self.input)} has no lines: nothing was scored ({empty})"
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
    progress: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Check the arguments, then score ``in_path`` into ``out_path``; the shipped policy when none is given.
    ``progress(lines read so far)`` is called after each batch is written (the command line reports it)."""
    _check_args(in_path, out_path, mode, batch_size)
    policy = Path(policy_path) if policy_path is not None else default_policy_path()
    tally = _score(Policy.load(policy), mode, in_path, out_path, batch_size, progress)
    actions = tally.actions
    errors = actions.pop("error", 0)
    return ScoreSummary(
        input=str(in_path),
        output=str(out_path),
        policy=str(policy),
        mode=mode,
        documents=sum(actions.values()),
        errors=errors,
        actions=dict(sorted(actions.items())),
        dropped_by=dict(sorted(tally.reasons.items())),
        first_error=tally.first_error,
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
    return dict(_score(Policy.load(policy_path), mode, in_path, out_path, batch_size).actions)


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


def _shown(path: str | Path) -> str:
    """A path as messages name it (stdin for "-")."""
    return "stdin" if str(path) == STDIO else str(path)


def _check_paths(in_path: Path, out_path: Path) -> None:
    """Refuse, before any model loads, an input that cannot be read or an output that would clobber it."""
    if str(in_path) == STDIO:
        _check_format(in_path, _stdin_head())
    else:
        _check_input_file(in_path)
    if str(out_path) == STDIO:
        return
    if out_path.is_dir():
        raise ScoreInputError(f"output {out_path} is a directory; give a file name with -o")
    if str(in_path) != STDIO and out_path.exists() and out_path.resolve() == in_path.resolve():
        raise ScoreInputError(f"output {out_path} is the input file; write the scores to another file")


def _check_input_file(in_path: Path) -> None:
    """The input exists, is a readable file, and is plain text (not compressed, not Parquet)."""
    if not in_path.exists():
        raise ScoreInputError(f"input file not found: {in_path}")
    if in_path.is_dir():
        raise ScoreInputError(f"input {in_path} is a directory; give a JSONL file")
    try:
        with in_path.open("rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ScoreInputError(f"cannot read input {in_path}: {e.strerror}") from None
    _check_format(in_path, head)


def _stdin_head() -> bytes:
    """The first bytes of stdin, left in place to be read again (b"" when stdin cannot be peeked)."""
    buffer = getattr(sys.stdin, "buffer", None)
    peek = getattr(buffer, "peek", None)
    return peek(8)[:8] if peek is not None else b""


def _check_format(in_path: Path, head: bytes) -> None:
    """Refuse compressed or Parquet input by its magic bytes: read as text, every line would be an error."""
    for magic, what, decompress in _MAGIC:
        if not head.startswith(magic):
            continue
        name = _shown(in_path)
        if decompress is None:
            raise ScoreInputError(
                f"{name} is {what}; filter score reads JSONL (score Parquet documents with `winnow run`, "
                f"or convert it first, e.g. pandas.read_parquet('{name}').to_json('{Path(name).stem}.jsonl', "
                "orient='records', lines=True))"
            )
        if str(in_path) == STDIO:
            raise ScoreInputError(
                f"stdin is {what}; filter score reads plain JSONL (decompress it first, e.g. {decompress} "
                "FILE | winnow filter score - -o OUT)"
            )
        plain = split_compression(name)[0] if split_compression(name)[1] else f"{name}.jsonl"
        raise ScoreInputError(
            f"{name} is {what}; filter score reads plain JSONL (decompress it, e.g. {decompress} {name} "
            f"> {plain})"
        )


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
    """(id, text, url) or an error message; the JSON object by `parse_object_line`, the one parser of
    JSONL lines, so each mistake has one message in every command."""
    # Back to the line's own bytes (the input is decoded with "surrogateescape", which keeps bytes that
    # are not UTF-8), stripped as ingest strips them: the same byte offsets and JSON columns.
    obj = parse_object_line(line.encode("utf-8", "surrogateescape").strip())
    if isinstance(obj, str):
        return obj
    problem = text_problem(obj, "text")
    if problem is not None:
        return problem
    text = obj["text"]
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
    permissions 0666 & ~umask like every other file winnow writes); stdout for "-"."""
    if str(out_path) == STDIO:
        stack.callback(sys.stdout.flush)
        return sys.stdout
    try:
        return stack.enter_context(atomic_write(out_path, "w", encoding="utf-8"))
    except OSError as e:
        raise ScoreInputError(f"cannot write output {out_path}: {e.strerror}") from None


def _open_input(stack: contextlib.ExitStack, in_path: str | Path) -> IO[str]:
    """The input as text (stdin for "-"); bytes that are not UTF-8 kept as escapes for `_parse` to turn
    back into bytes and name, a leading byte-order mark dropped."""
    if str(in_path) == STDIO:
        wrapper = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape")
        stack.callback(wrapper.detach)  # closing the wrapper would close stdin
        return wrapper
    return stack.enter_context(open(in_path, encoding="utf-8-sig", errors="surrogateescape"))


@dataclass
class _Tally:
    """What `_score` wrote: counts per action (and "error"), per drop reason, and the first error."""

    actions: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    first_error: str = ""


def _score(
    policy: Policy,
    mode: str,
    in_path: str | Path,
    out_path: str | Path,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> _Tally:
    """Write one record per non-blank input line, and count them.

    The detectors (seconds to load) are built at the first text, so an empty file returns at once."""
    out_path = Path(out_path)
    filt = functools.cache(lambda: Filter(policy, mode=mode))
    tally = _Tally()
    counts, reasons = tally.actions, tally.reasons
    with contextlib.ExitStack() as stack:
        out = _open_output(stack, out_path)
        inp = _open_input(stack, in_path)
        pending: list[tuple[int, Any, str | None]] = []  # (line no, id, error) in order
        batch: list[tuple[Any, str, str | None]] = []

        def flush() -> None:
            verdicts = iter(filt().check_batch([b[1] for b in batch], [b[2] for b in batch]) if batch else [])
            for line_no, doc_id, err in pending:
                if err is not None:
                    rec = {"line": line_no, "id": doc_id, "action": "error", "error": err}
                    tally.first_error = tally.first_error or f"line {line_no}: {err}"
                else:
                    rec = _record(doc_id, next(verdicts))
                counts[rec["action"]] += 1
                if rec["action"] == "drop":
                    reasons[rec["reason"]] += 1
                out.write(json.dumps(rec, ensure_ascii=True) + "\n")
            pending.clear()
            batch.clear()

        for line_no, line in enumerate(_bounded_lines(inp, MAX_LINE_CHARS), start=1):
            if line is not None and not line.strip():
                continue  # a blank line is no document
            parsed = _parse(line) if line is not None else f"line longer than {MAX_LINE_CHARS:,} characters"
            if isinstance(parsed, str):
                pending.append((line_no, None, parsed))
            else:
                pending.append((line_no, parsed[0], None))
                batch.append(parsed)
            if len(pending) >= batch_size:  # bounds memory for runs of bad lines too
                flush()
                if progress is not None:
                    progress(line_no)
        flush()
    return tally
