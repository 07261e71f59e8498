"""Checks that run before Ray starts, so a user's mistake costs a second, not a Ray start.

`winnow run` and `winnow validate --sources` call these: a local source that matches no file, a
run directory made with another config, and one that another run is writing are refused with one
line that names the thing and says what to do; an empty source is only a warning (the run is
valid, it keeps nothing).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import yaml

from ingest.sources import expand_uri, is_glob
from pipeline import layout, storage
from pipeline.config import ConfigError, RunConfig, SourceSpec, dump_config, parse_config
from pipeline.layout import StagePaths

MAX_DIFFS_SHOWN = 5
MAX_VALUE_CHARS = 60
LOCAL_SCHEMES = ("", "file")


def preflight_run(cfg: RunConfig, run_dir: str, *, restart: bool) -> list[str]:
    """Everything `winnow run` can refuse before Ray starts; returns warnings to print."""
    try:
        storage.check_run_dir_free(run_dir)
    except storage.RunDirBusy as e:
        raise run_dir_busy(e) from None
    if not restart:
        check_run_dir(cfg, run_dir)
        if _ingest_finished(run_dir):
            return []  # a finished ingest does not read its sources again
    return check_sources(cfg, remote=False)


def _ingest_finished(run_dir: str) -> bool:
    return storage.exists(StagePaths(run_dir, "ingest").success)


# -- sources ------------------------------------------------------------------------------------------


def check_sources(cfg: RunConfig, *, remote: bool) -> list[str]:
    """Raise ConfigError for a source that matches no file; return warnings for empty sources.

    Local paths and globs are always checked; remote globs only when `remote` (it lists a bucket).
    """
    empty: list[tuple[int, str, int]] = []
    all_local = True
    for index, spec in enumerate(cfg.ingest.sources):
        if spec.uri is None or urlparse(spec.uri).scheme.lower() not in LOCAL_SCHEMES:
            all_local = False
            if remote and spec.uri is not None and is_glob(spec.uri):
                _check_remote_glob(index, spec.uri)
            continue
        paths = _local_matches(index, spec, cfg)
        if all(os.path.getsize(p) == 0 for p in paths):
            empty.append((index, spec.uri, len(paths)))
    if all_local and len(empty) > 1 and len(empty) == len(cfg.ingest.sources):
        return [
            "warning: ingest.sources: every source file is empty (0 bytes): the run will keep no documents"
        ]
    nothing_else = all_local and len(cfg.ingest.sources) == 1
    consequence = "the run will keep no documents" if nothing_else else "it adds no documents"
    return [_empty_warning(index, uri, files, consequence) for index, uri, files in empty]


def _check_remote_glob(index: int, uri: str) -> None:
    """A remote glob must list at least one file (this lists the bucket or site)."""
    try:
        found = expand_uri(uri)
    except (OSError, ValueError) as e:
        raise ConfigError(f"ingest.sources.{index}: cannot list {uri!r}: {e}") from e
    if not found:
        raise ConfigError(_no_match(index, uri, uri))


def _local_matches(index: int, spec: SourceSpec, cfg: RunConfig) -> list[str]:
    """The local files a source names (a file, a glob, or a directory's files); ConfigError if none."""
    assert spec.uri is not None
    wanted = _local_path(spec.uri, cfg)
    if not is_glob(spec.uri) and not os.path.isdir(wanted):
        if not os.path.isfile(wanted):
            raise ConfigError(_no_match(index, spec.uri, wanted))
        return [wanted]
    try:
        matches = [p for p in (_local_path(m, cfg) for m in expand_uri(wanted)) if os.path.isfile(p)]
    except ValueError as e:  # e.g. a pattern that matches more files than any corpus has
        raise ConfigError(f"ingest.sources.{index}: {e}") from e
    if not matches:
        raise ConfigError(_no_match(index, spec.uri, wanted))
    return matches


def _local_path(uri: str, cfg: RunConfig) -> str:
    """A local source (path or file:// URI) as an absolute path, config-relative paths resolved."""
    parsed = urlparse(uri)
    if parsed.scheme.lower() == "file":
        return url2pathname(parsed.path)
    return cfg.resolve(uri)


def _no_match(index: int, uri: str, looked_for: str) -> str:
    """The one-line refusal; a relative path also says where it was looked for, and why there."""
    relative = looked_for != uri
    where = f" (looked for {looked_for})" if relative else ""
    why = "; relative paths are resolved against the config file's directory" if relative else ""
    return f"ingest.sources.{index}: no file matches {uri!r}{where} — check the path, glob or directory{why}"


def _empty_warning(index: int, uri: str, files: int, consequence: str) -> str:
    what = f"{uri!r} is empty (0 bytes)" if files == 1 else f"all {files} files matching {uri!r} are empty"
    return f"warning: ingest.sources.{index}: {what}: {consequence}"


# -- run directory --------------------------------------------------------------------------------------


def run_dir_busy(err: storage.RunDirBusy) -> ConfigError:
    """A run directory another winnow is writing: the one `error:` line, and what to do."""
    return ConfigError(f"{err}; wait for it to finish, or use another --run-dir")


def check_run_dir(cfg: RunConfig, run_dir: str) -> None:
    """Refuse a run directory made with another config, naming the keys that differ (old -> new)."""
    saved_path = layout.config_path(run_dir)
    if not storage.exists(saved_path):
        return
    new_text = dump_config(cfg)
    old_text = storage.read_text(saved_path)
    if old_text == new_text or _same_with_new_defaults(old_text, new_text):
        return
    raise ConfigError(
        f"{run_dir} holds a run made with a different config ({_describe_diff(old_text, new_text)}); "
        "use --restart to discard that run, or another --run-dir"
    )


def _same_with_new_defaults(old_text: str, new_text: str) -> bool:
    """Whether the saved config, read by this version (keys it lacks take today's defaults), is the
    new one: a run made before a key was added resumes, and its config.yaml is rewritten in full.
    A key added later must default to what earlier versions did (its behaviour then is unchanged)."""
    try:
        raw = yaml.safe_load(old_text)
        if not isinstance(raw, dict):
            return False
        return dump_config(parse_config(raw, source="config.yaml")) == new_text
    except (yaml.YAMLError, ConfigError):
        return False


def _describe_diff(old_text: str, new_text: str) -> str:
    try:
        old = _flatten(yaml.safe_load(old_text))
    except yaml.YAMLError:
        return "its config.yaml cannot be read"
    new = _flatten(yaml.safe_load(new_text))
    keys = [k for k in sorted(old.keys() | new.keys()) if old.get(k, _ABSENT) != new.get(k, _ABSENT)]
    if not keys:
        return "config.yaml differs only in layout"
    shown = [f"{k}: {_short(old.get(k, _ABSENT))} -> {_short(new.get(k, _ABSENT))}" for k in keys]
    more = len(shown) - MAX_DIFFS_SHOWN
    return "; ".join(shown[:MAX_DIFFS_SHOWN]) + (f"; and {more} more" if more > 0 else "")


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT = _Absent()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists as {dotted.key: leaf}, so a difference names its field."""
    if isinstance(value, dict) and value:
        items = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list) and value:
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix or "(top level)": value}
    out: dict[str, Any] = {}
    for key, child in items:
        out.update(_flatten(child, f"{prefix}.{key}" if prefix else key))
    return out


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, _Absent) else yaml.safe_dump(value, default_flow_style=True)
    text = text.strip().removesuffix("...").strip()
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"
