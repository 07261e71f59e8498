"""Expand a source (local glob or directory, `file://` glob or directory, fsspec glob) into sorted files.

Sorted so that the file order, hence document ids and output bytes, do not depend on listing
order. HTTP(S) URIs cannot be listed and are returned as they are.

Local expansion walks the tree itself instead of calling `glob.glob`: that follows symlinked
directories without memory, so one symlink loop lists the same file once per level (41 times) and
two loops never finish. Here each real directory (device, inode) is entered once and each real
file is listed once, under the first path that reaches it in sorted depth-first order. A
directory source means every non-hidden file under it. Glob rules follow `glob.glob(recursive=True)`:
`**` as a whole segment spans any number of directories, and wildcards do not match names that
start with a dot.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from functools import lru_cache
from urllib.parse import urlparse
from urllib.request import url2pathname

_GLOB_CHARS = frozenset("*?[")
MAX_FILES = 1_000_000  # a pattern that matches more is a mistake (or a hostile tree), not a corpus


class TooManyFiles(ValueError):
    """A source pattern matched more files than any corpus should have."""


def is_glob(uri: str) -> bool:
    return any(c in _GLOB_CHARS for c in urlparse(uri).path)


def expand_uri(uri: str) -> list[str]:
    """Files matching `uri` (directories excluded, expanded when given); `[uri]` when it is a file."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        return [uri]
    if scheme in ("", "file"):
        path = url2pathname(parsed.path) if scheme == "file" else uri
        if not is_glob(uri) and not os.path.isdir(path):
            return [uri]
        return [f"file://{m}" if scheme == "file" else m for m in expand_local(path)]
    if not is_glob(uri):
        return [uri]
    import fsspec

    fs, _, paths = fsspec.get_fs_token_paths(uri)
    files = sorted(p for p in paths if not fs.isdir(p))
    return [fs.unstrip_protocol(p) for p in files]


def expand_local(pattern: str, max_files: int | None = None) -> list[str]:
    """Sorted local files matching a glob pattern or under a directory; each real file once.

    Raises `TooManyFiles` past `max_files` (default `MAX_FILES`): the listing is held in memory.
    """
    limit = MAX_FILES if max_files is None else max_files
    if not is_glob(pattern):
        pattern = os.path.join(pattern, "**", "*")
    base, segments = _split_pattern(pattern)
    if not os.path.isdir(base or "."):
        return []
    recursive = "**" in segments
    found: dict[tuple[int, int], str] = {}
    for path, rel in _walk(base, max_depth=None if recursive else len(segments)):
        if _matches(tuple(rel), tuple(segments)):
            try:
                st = os.stat(path)
            except OSError:  # vanished since it was listed
                continue
            found.setdefault((st.st_dev, st.st_ino), path)
            if len(found) > limit:
                raise TooManyFiles(f"{pattern!r} matches more than {limit:,} files; narrow the pattern")
    return sorted(found.values())


def _split_pattern(pattern: str) -> tuple[str, list[str]]:
    """(directory before the first wildcard, "" for the current one; the segments from there on)."""
    parts = pattern.split(os.sep)
    first = next(i for i, p in enumerate(parts) if any(c in _GLOB_CHARS for c in p))
    base = os.sep.join(parts[:first]) or (os.sep if pattern.startswith(os.sep) else "")
    return base, [p for p in parts[first:] if p]


def _walk(base: str, max_depth: int | None) -> Iterator[tuple[str, list[str]]]:
    """(path, segments relative to base) of every file below `base`, entering each real directory once."""
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[str, list[str]]] = [(base, [])]
    while stack:
        directory, rel = stack.pop()
        try:
            st = os.stat(directory or ".")
            entries = sorted(os.scandir(directory or "."), key=lambda e: e.name)
        except OSError:  # unreadable, vanished, or a dangling/looping link: nothing to list
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                continue
            if is_dir and (max_depth is None or len(rel) + 1 < max_depth):
                subdirs.append((os.path.join(directory, entry.name), [*rel, entry.name]))
            elif is_file:
                yield os.path.join(directory, entry.name), [*rel, entry.name]
        stack.extend(reversed(subdirs))  # sorted depth-first: the first path to a file is stable


@lru_cache(maxsize=4096)
def _matches(parts: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    """glob semantics for one relative path: `**` spans directories; wildcards skip dot-names."""
    if not segments:
        return not parts
    head, rest = segments[0], segments[1:]
    if head == "**":
        if _matches(parts, rest):
            return True
        return bool(parts) and not parts[0].startswith(".") and _matches(parts[1:], segments)
    if not parts or (parts[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(parts[0], head) and _matches(parts[1:], rest)
