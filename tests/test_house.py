"""The house rules: each top-level package has one job, and imports only the rooms below it.

Read from the source with `ast` (every import, also those inside functions), so a lazy import
that crosses a wall fails here, not in a user's run.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARIES = ("dedup", "filters", "tokenization", "trainer", "server", "ingest")
PACKAGES = ("kit", *LIBRARIES, "pipeline", "report", "winnow")
# The package graph, exactly: the rooms each room imports. It is the graph drawn in
# docs/ARCHITECTURE.md ("The house"), which `test_architecture_draws_the_allowed_graph` reads back,
# so the picture, this dict and the code cannot drift apart: a new or dropped edge changes all three.
ALLOWED: dict[str, set[str]] = {
    "kit": set(),
    "dedup": {"kit"},
    "tokenization": {"kit"},
    "trainer": {"tokenization", "kit"},
    "server": {"trainer", "filters", "kit"},
    "filters": {"kit"},
    "ingest": {"kit"},
    "pipeline": {"ingest", "dedup", "filters", "tokenization", "kit"},
    "report": {"pipeline", "dedup", "filters", "kit"},
    "winnow": {"pipeline", "report", "dedup", "filters", "tokenization", "trainer", "server", "kit"},
}
# What the report may read of `pipeline`: the run directory's storage and layout, nothing of the run.
REPORT_MAY_IMPORT = {"pipeline.storage", "pipeline.layout"}


def _python_files(package: str) -> Iterator[Path]:
    for path in sorted((REPO / package).rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def _imported_modules(path: Path, package: str) -> Iterator[str]:
    """Dotted names of the modules a file imports (`from a import b` counts as `a.b` and `a`)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside its own package
                yield package
                continue
            assert node.module is not None
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _imports() -> dict[str, dict[str, set[str]]]:
    """{package: {first-party module imported: files that import it}} for every product package."""
    found: dict[str, dict[str, set[str]]] = {}
    for package in PACKAGES:
        files = list(_python_files(package))
        assert files, f"{package}/ holds no Python files"
        modules: dict[str, set[str]] = {}
        for path in files:
            for module in _imported_modules(path, package):
                if module.split(".")[0] in PACKAGES:
                    modules.setdefault(module, set()).add(str(path.relative_to(REPO)))
        found[package] = modules
    return found


def _package_graph(imports: dict[str, dict[str, set[str]]]) -> dict[str, set[str]]:
    return {package: {m.split(".")[0] for m in modules} - {package} for package, modules in imports.items()}


def _documented_graph() -> dict[str, set[str]]:
    """The graph drawn in ARCHITECTURE's house: `room -> a, b, ...` lines (a room alone imports none)."""
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = text.split("Which package may import which", 1)[1].split("```", 2)[1]
    graph: dict[str, set[str]] = {}
    for line in block.splitlines():
        match = re.fullmatch(r"\s*(\w+)\s*(?:->\s*([\w, ]*\w))?\s*(?:\(.*)?", line)
        if match and match.group(1) in PACKAGES:
            assert match.group(1) not in graph, f"{match.group(1)} drawn twice"
            graph[match.group(1)] = {name.strip() for name in (match.group(2) or "").split(",")} - {""}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle between packages, as a path that ends where it starts; None if there is none."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            if cycle := visit(nxt, [*path, node]):
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        if cycle := visit(start, []):
            return cycle
    return None


@pytest.fixture(scope="module")
def imports() -> dict[str, dict[str, set[str]]]:
    return _imports()


def _users(imports: dict[str, dict[str, set[str]]], package: str, targets: set[str]) -> list[str]:
    return sorted(
        f"{f} imports {m}"
        for m, files in imports[package].items()
        if m.split(".")[0] in targets
        for f in files
    )


@pytest.mark.parametrize("library", LIBRARIES)
def test_libraries_do_not_import_the_orchestration(imports, library: str) -> None:
    assert _users(imports, library, {"pipeline", "report", "winnow"}) == []


def test_the_kit_imports_no_other_room(imports) -> None:
    """The shared kit sits below every room, so it may import none of them."""
    assert _users(imports, "kit", set(PACKAGES) - {"kit"}) == []


def test_pipeline_does_not_import_the_command_line(imports) -> None:
    assert _users(imports, "pipeline", {"winnow"}) == []


def test_report_reads_only_the_run_directory_layout(imports) -> None:
    used = {m for m in imports["report"] if m.split(".")[0] == "pipeline" and m != "pipeline"}
    assert used == REPORT_MAY_IMPORT


def test_the_import_graph_is_the_allowed_one(imports) -> None:
    """Every edge the code has is allowed, and every allowed edge is used (a stale picture fails too)."""
    graph = _package_graph(imports)
    assert set(graph) == set(ALLOWED)
    extra = {p: sorted(graph[p] - ALLOWED[p]) for p in PACKAGES if graph[p] - ALLOWED[p]}
    unused = {p: sorted(ALLOWED[p] - graph[p]) for p in PACKAGES if ALLOWED[p] - graph[p]}
    assert extra == {}, f"imports the house does not allow: {extra}"
    assert unused == {}, f"allowed imports no code makes (update ALLOWED and ARCHITECTURE): {unused}"


def test_architecture_draws_the_allowed_graph() -> None:
    assert _documented_graph() == ALLOWED


def test_package_graph_is_acyclic(imports) -> None:
    assert _cycle(ALLOWED) is None
    assert _cycle(_package_graph(imports)) is None


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    "old", ["pipeline/ingest", "pipeline/cli.py", "pipeline/commands.py", "dedup/kit.py", "dedup/svg.py"]
)
def test_moved_modules_are_gone_from_pipeline(old: str) -> None:
    assert not (REPO / old).exists()


def test_report_modules_are_gone_from_pipeline() -> None:
    assert sorted(p.name for p in (REPO / "pipeline").glob("report*.py")) == []
