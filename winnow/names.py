"""The top-level import names winnow installs, and a check that each one is winnow's own.

Why: the project keeps its known folder names (`pipeline`, `filters`, `report`, ...) as import names.
They are generic, so a user's environment may hold another distribution with one of them; Python
then imports whichever comes first on `sys.path` and fails later with a confusing error. The
command line checks once, before any work (about 2 ms), and names the clash in one line. (Another
distribution that writes into the same folder cannot be seen this way; `tests/test_names.py` checks
that no installed distribution shares a name in the project's own environment.)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

IMPORT_NAMES = (
    "dedup",
    "filters",
    "ingest",
    "kit",
    "pipeline",
    "report",
    "server",
    "tokenization",
    "trainer",
    "winnow",
)
_ROOT = Path(__file__).resolve().parents[1]


def shadowed() -> dict[str, str]:
    """Import names that resolve to a file outside this installation: name -> where it resolves."""
    out = {}
    for name in IMPORT_NAMES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec and spec.origin else None
        locations = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
        where = Path(origin) if origin else (locations[0] if locations else None)
        if where is None or _ROOT not in where.resolve().parents:
            out[name] = str(where) if where else "nowhere"
    return out


def clash_message() -> str | None:
    """One line naming the first clash and what to do, or None when every name is winnow's."""
    for name, where in shadowed().items():
        return (
            f"import name {name!r} resolves to {where}, not to winnow's own package: another package "
            "with that name comes first on sys.path; install winnow in its own virtualenv"
        )
    return None
