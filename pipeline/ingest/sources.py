"""Expand a source pattern (local glob, `file://` glob, fsspec glob) into sorted file URIs.

Sorted so that the file order, hence document ids and output bytes, do not depend on listing
order. HTTP(S) URIs cannot be listed and are returned as they are.
"""

from __future__ import annotations

import glob
import os
from urllib.parse import urlparse
from urllib.request import url2pathname

_GLOB_CHARS = frozenset("*?[")


def is_glob(uri: str) -> bool:
    return any(c in _GLOB_CHARS for c in urlparse(uri).path)


def expand_uri(uri: str) -> list[str]:
    """Files matching `uri` (directories excluded); `[uri]` when it is not a pattern."""
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("http", "https") or not is_glob(uri):
        return [uri]
    if scheme in ("", "file"):
        pattern = url2pathname(urlparse(uri).path) if scheme == "file" else uri
        matches = sorted(p for p in glob.glob(pattern, recursive=True) if not os.path.isdir(p))
        return [f"file://{m}" if scheme == "file" else m for m in matches]
    import fsspec

    fs, _, paths = fsspec.get_fs_token_paths(uri)
    files = sorted(p for p in paths if not fs.isdir(p))
    return [fs.unstrip_protocol(p) for p in files]
