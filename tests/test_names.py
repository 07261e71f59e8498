"""winnow's generic import names: the command line refuses, in one line, to run when one of them is
shadowed by another package; and in this environment no other distribution ships one of them."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from winnow.names import IMPORT_NAMES, clash_message, shadowed

ROOT = Path(__file__).resolve().parents[1]


def test_every_top_level_package_is_named() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks", "scripts"}
    assert packages == set(IMPORT_NAMES)


def test_this_installation_owns_every_name() -> None:
    assert shadowed() == {} and clash_message() is None


def test_no_other_installed_distribution_ships_one_of_the_names() -> None:
    owners = packages_distributions()
    assert {n: owners[n] for n in IMPORT_NAMES if set(owners.get(n, [])) - {"winnow"}} == {}


def test_a_shadowed_name_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "__init__.py").write_text("")
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(tmp_path)!r}); "
        "from winnow.cli import main; sys.exit(main(['run', 'missing.yaml']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: import name 'report' resolves to ")
    assert str(tmp_path) in lines[0]
