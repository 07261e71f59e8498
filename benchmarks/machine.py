"""Machine facts that every benchmark records next to its figures, and the one writer of
benchmarks/results/<name>.json, so that every published table has the same machine-readable record."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

from kit.files import write_text_atomic

REPO = Path(__file__).resolve().parents[1]
# The shared data folder the benchmarks and evaluations read (../shared/data beside the repository);
# WINNOW_SHARED_DATA points them all elsewhere.
SHARED_DATA = Path(os.environ.get("WINNOW_SHARED_DATA") or REPO.parent / "shared" / "data").resolve()
RESULTS = REPO / "benchmarks" / "results"
RESULT_KEYS = ("benchmark", "date", "command", "code", "machine", "method", "note", "figures")
NOTE_ENV = "WINNOW_BENCH_NOTE"  # e.g. "loaded machine": how the run's conditions differ from a quiet machine
# A figure formatted for a table: thousands separators and/or a unit ("1,234", "12.5%", "3.1×", "2.7 ms").
# Bare digit strings are left alone: they are data (phone numbers, ids) as often as figures.
_FORMATTED_NUMBER = re.compile(r"[-+]?(\d{1,3}(,\d{3})+(\.\d+)?\s*(%|×|x|ms|s)?|\d+(\.\d+)?\s*(%|×|x|ms|s))")
# The cores the command was started on, before a benchmark pins itself (--core): what `taskset` was given.
_START_AFFINITY = sorted(os.sched_getaffinity(0))


# Instruction-set features that change which kernels torch and numpy pick (bf16/int8 matmuls above all):
# two VMs with the same "x86_64" can differ by 4x on the encoder, so results say which one ran them.
_ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")


def cpu_model() -> dict:
    """The CPU's model name and the ISA features above, from /proc/cpuinfo (empty where there is none)."""
    path = Path("/proc/cpuinfo")
    if not path.exists():
        return {}
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            break  # the first processor's block is enough
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')}, "
        f"model {fields.get('model', '?')})",
        "cpu_isa": [f for f in _ISA_FLAGS if f in flags],
    }


def machine_info(*packages: str) -> dict:
    """nproc, memory, load, the cores this process may run on, its niceness, Python, the given packages'
    versions and the UTC time. (Also notes the code version, once, for write_results: a benchmark calls this
    before it measures, so the commit recorded is the one the run started with.)"""
    _start_code()
    path = Path("/proc/meminfo")
    meminfo = path.read_text().splitlines() if path.exists() else []
    mem_kb = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:")), 0)
    info = {
        "cpu": platform.processor() or platform.machine(),
        **cpu_model(),
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "load_average": round(os.getloadavg()[0], 2),
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "nice": os.nice(0),
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    for name in packages:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = "not installed"
    return info


def cpu_probe() -> float:
    """CPU-seconds of a fixed pure-Python loop (best of 3): how fast this core is right now. On a shared
    virtual machine it varies by tens of percent from minute to minute; figures measured minutes apart
    compare through it, and ratios measured in one run need it less."""
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        sum(range(10_000_000))
        best = min(best, time.process_time() - t0)
    return round(best, 3)


def pin_to_core(core: int) -> int:
    """Pin this process (and the subprocesses it starts, which inherit it) to `core`, or to its lowest
    allowed CPU when `core` is not allowed (a `warning:` line says so); returns the CPU used. What
    `taskset -c` does."""
    cpus = os.sched_getaffinity(0)
    if core not in cpus:
        print(
            f"warning: CPU {core} is not available here (allowed: {sorted(cpus)}); using CPU {min(cpus)}",
            file=sys.stderr,
        )
        core = min(cpus)
    os.sched_setaffinity(0, {core})
    return core


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (a zero or negative count is a usage error, exit 2)."""
    value = int(text)  # argparse turns a ValueError into "invalid positive_int value"
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    """argparse type: an integer of at least 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0."""
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def usage_error(message: str) -> NoReturn:
    """One `error:` line on stderr and exit status 2: a benchmark's argument a user got wrong."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def known_names(flag: str, text: str, known: tuple[str, ...]) -> list[str]:
    """`text` as a comma-separated list of `known` names, or `usage_error` naming `flag` and the known ones."""
    names = text.split(",")
    unknown = [n for n in names if n not in known]
    if unknown:
        usage_error(f"{flag}: unknown name {unknown[0]!r}; pass any of {','.join(known)}, comma-separated")
    return names


def number_list(flag: str, text: str, parse: Callable[[str], Any], what: str) -> list:
    """`text` as comma-separated numbers above 0 (`parse`: int or float), or `usage_error` naming `flag`."""
    try:
        values = [parse(x) for x in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) <= 0:
        usage_error(f"{flag} must be comma-separated {what} above 0, got {text!r}")
    return values


def require_writable_file(path: Path, flag: str = "--out") -> None:
    """Before any work: `path` must be a file name (not a folder) whose folder exists or can be made in a
    writable folder (the writer makes it when it writes; nothing is made here). Otherwise one `error:` line
    naming `flag` and exit 2, so a long run does not fail at its last step."""
    path = Path(path)
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if path.is_dir():
        problem = f"{flag} {path} is a folder: pass a file name, e.g. {path / 'results.json'}"
    elif not existing.is_dir():
        problem = (
            f"{flag} {path}: {existing} is a file, so folder {path.parent} cannot be made: pass another path"
        )
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{flag} {path}: folder {existing} is not writable: pass another path"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)


def shared_data_missing(data: Path, marker: str) -> bool:
    """Whether the shared data folder `data` lacks `marker` (a subfolder or file a benchmark reads); if so,
    one `error:` line on stderr names it and says what to pass, and the caller exits with status 2."""
    if (data / marker).exists():
        return False
    print(
        f"error: {data / marker} not found: put the shared data folder at ../shared/data beside the "
        "repository, or point WINNOW_SHARED_DATA (or --data, where a command has it) at it",
        file=sys.stderr,
    )
    return True


def command_line() -> str:
    """The command that reproduces this run: niceness and the CPU pinning it was started with as prefixes
    (a benchmark's own --core pinning shows in its arguments), then the module and its arguments as given
    (`python -m benchmarks.NAME ...`)."""
    prefix = []
    if os.nice(0) > 0:
        prefix.append(f"nice -n {os.nice(0)}")
    if len(_START_AFFINITY) < (os.cpu_count() or len(_START_AFFINITY)):
        prefix.append(f"taskset -c {','.join(map(str, _START_AFFINITY))}")
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    program = f"python -m {spec.name}" if spec is not None else f"python {sys.argv[0]}"
    return " ".join([*prefix, program, *map(shlex.quote, sys.argv[1:])])


def code_version(repo: Path = REPO) -> dict:
    """The code a result was measured with: `git rev-parse HEAD`, whether the working tree differed from it
    (`git status --porcelain`: tracked changes and untracked files that are not ignored) and which paths
    did, so a results file can be tied to the commit that produced it. Outside a git checkout (or
    without git) the commit is None."""

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    changed = sorted({line[3:] for line in (status or "").splitlines() if line.strip()})
    return {
        "commit": commit.strip() if commit else None,
        "dirty": bool(changed) if status is not None else None,
        "changed_paths": changed,
    }


_START_CODE: dict | None = None


def _start_code() -> dict:
    """code_version() as of the first call in this process."""
    global _START_CODE
    if _START_CODE is None:
        _START_CODE = code_version()
    return _START_CODE


def _numbers(value: object, where: str) -> object:
    """`value` as plain JSON: numpy scalars as Python numbers, NaN and infinities as null, and a refusal
    of strings that are formatted figures (see _FORMATTED_NUMBER): figures are stored as numbers."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, dict):
        return {str(k): _numbers(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numbers(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str) and _FORMATTED_NUMBER.fullmatch(value.strip()):
        raise ValueError(f"{where} is the string {value!r}: store the number, not its formatting")
    return value


def write_results(
    name: str,
    figures: dict,
    *,
    method: str,
    note: str = "",
    machine: dict | None = None,
    packages: tuple[str, ...] = (),
    folder: Path = RESULTS,
) -> Path:
    """Write benchmarks/results/<name>.json atomically: the figures of the printed table (numbers), the
    exact command, the machine, the date, how the figures were measured (`method`: repeats and median or
    best, pinned cores, warm or cold, in-sample or held-out) and a note on the run's conditions (`note`
    plus $WINNOW_BENCH_NOTE), and the code it ran (`code`: git commit, whether the tree was dirty and the
    changed paths; see code_version). `machine` defaults to `machine_info(*packages)`."""
    if not method.strip():
        raise ValueError("method must say how the figures were measured")
    machine = machine if machine is not None else machine_info(*packages)
    notes = [n for n in (os.environ.get(NOTE_ENV, "").strip(), note.strip()) if n]
    doc = {
        "benchmark": name,
        "date": machine.get("date") or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "code": _start_code(),
        "machine": machine,
        "method": method,
        "note": "; ".join(notes),
        "figures": _numbers(figures, "figures"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    write_text_atomic(path, json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    return path
