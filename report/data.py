"""What the run report shows, read from a run directory: ledger, sampled scores, clusters, tokens, logs.

Reading is selective and bounded so that a report of a huge run stays quick:
only the needed Parquet columns, and at most `max_rows` rows per stage, taken
as evenly spaced whole row groups (so I/O shrinks with the sample, and the
sample is the same on every call). Every optional part of a run directory may
be missing; the report then says so instead of failing.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dedup.cluster_sizes import CLUSTER_SIZE_BUCKETS, cluster_size_histogram
from pipeline import layout, storage

DEFAULT_MAX_ROWS = 200_000
QUARANTINE_ROWS = 50


class ReportInputError(ValueError):
    """A file the user named (--policy, --train-log) that the report cannot use: an explicit choice is
    refused with its reason, never quietly replaced by a note inside the page."""


@dataclass
class Sample:
    """A bounded read of some parts: the rows read and how many rows the parts hold in all."""

    table: pa.Table
    total_rows: int

    @property
    def sampled(self) -> bool:
        return self.table.num_rows < self.total_rows

    def note(self, what: str) -> str:
        if not self.sampled:
            return f"all {self.total_rows:,} {what}"
        return f"a sample of {self.table.num_rows:,} of {self.total_rows:,} {what} (evenly spaced row groups)"


@dataclass
class ClusterInfo:
    stage: str
    buckets: dict[str, int]
    clusters: int
    documents: int
    by_kind: dict[str, int]
    note: str


@dataclass
class TrainLog:
    path: str
    steps: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_steps: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)
    tokens_per_s: list[float] = field(default_factory=list)
    bad_lines: int = 0
    records: int = 0


@dataclass
class ReportData:
    run_dir: str
    name: str
    date: str
    ledger: dict[str, Any]
    config: dict[str, Any]
    policy_path: str | None = None
    policy_note: str = ""
    thresholds: dict[str, float] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)
    score_stage: str | None = None
    scores_kept: Sample | None = None
    scores_removed: Sample | None = None
    langs_kept: Counter = field(default_factory=Counter)
    langs_kept_note: str = ""
    langs_removed: Counter = field(default_factory=Counter)
    langs_removed_note: str = ""
    clusters: list[ClusterInfo] = field(default_factory=list)
    tokens: dict[str, Any] | None = None
    quarantine_total: dict[str, int] = field(default_factory=dict)
    quarantine_rows: list[dict[str, Any]] = field(default_factory=list)
    train: TrainLog | None = None


# -- Parquet -----------------------------------------------------------------------------------


def schema_names(paths: list[str]) -> list[str]:
    """Column names of the first readable part (stages write one schema per stage)."""
    for p in paths:
        try:
            return list(storage.open_parquet(p).schema_arrow.names)
        except Exception:  # an unreadable part is skipped, not fatal to a report
            continue
    return []


def read_sample(paths: list[str], columns: list[str], max_rows: int = DEFAULT_MAX_ROWS) -> Sample:
    """Up to `max_rows` rows of `columns` (those present) from `paths`, as evenly spaced row groups."""
    groups: list[tuple[int, int, int]] = []  # (file index, row group, rows)
    files = []
    for fi, p in enumerate(paths):
        pf = storage.open_parquet(p)
        files.append(pf)
        md = pf.metadata
        groups.extend((fi, g, md.row_group(g).num_rows) for g in range(md.num_row_groups))
    total = sum(g[2] for g in groups)
    if total <= max_rows:
        chosen = groups
    else:
        # Enough evenly spaced groups to cover max_rows on average; then thin rows to the cap.
        n = len(groups)
        want = min(n, max(1, -(-n * max_rows // total)))
        idx = sorted({(j * n) // want for j in range(want)})
        chosen = [groups[i] for i in idx]
    tables = []
    by_file: dict[int, list[int]] = {}
    for fi, g, _ in chosen:
        by_file.setdefault(fi, []).append(g)
    for fi, gs in by_file.items():
        pf = files[fi]
        cols = [c for c in columns if c in pf.schema_arrow.names]
        tables.append(pf.read_row_groups(gs, columns=cols))
    if tables:
        table = pa.concat_tables(tables, promote_options="permissive")
    elif files:  # only empty parts: keep their columns so the report's sections read zero rows
        schema = files[0].schema_arrow
        table = schema.empty_table().select([c for c in columns if c in schema.names])
    else:
        table = pa.table({})
    if table.num_rows > max_rows:
        step = table.num_rows / max_rows
        table = table.take(pa.array([int(k * step) for k in range(max_rows)], pa.int64()))
    return Sample(table, total)


def count_rows(paths: list[str]) -> int:
    return sum(storage.open_parquet(p).metadata.num_rows for p in paths)


# -- run directory pieces -------------------------------------------------------------------------


def _read_yaml(path: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(storage.read_text(path))
    except Exception:  # missing or malformed config: report without it
        return {}
    return data if isinstance(data, dict) else {}


def _run_date(run_dir: str) -> str:
    """When the run last wrote its ledger (not now), so the same run gives the same report."""
    for path in (layout.stats_path(run_dir), layout.config_path(run_dir)):
        try:
            fs, p = storage.filesystem(path)
            info = fs.info(p)
        except Exception:
            continue
        mtime = info.get("mtime") or info.get("LastModified") or info.get("updated")
        if isinstance(mtime, int | float):
            return _dt.datetime.fromtimestamp(mtime, _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if isinstance(mtime, _dt.datetime):
            return mtime.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "unknown date"


def policy_candidates(run_dir: str, policy: str) -> list[str]:
    """Where a config-relative policy path may live: the run dir, its parent, cwd, the repo's configs/."""
    if "://" in policy or os.path.isabs(policy):
        return [policy]
    repo_configs = Path(__file__).resolve().parents[1] / "configs"
    out = [storage.join(run_dir, policy)]
    if storage.is_local(run_dir):
        out.append(os.path.join(os.path.dirname(os.path.abspath(run_dir.removeprefix("file://"))), policy))
    out += [os.path.abspath(policy), os.path.join("configs", policy), str(repo_configs / policy)]
    return list(dict.fromkeys(out))


def load_thresholds(path: str) -> tuple[dict[str, float], dict[str, str]]:
    """Category thresholds and actions, read loosely (`categories: {name: {threshold, action}}`).

    The language category has no threshold; its score is 1 - lang_score for a kept language, so
    `min_score` maps to a score threshold of 1 - min_score.
    """
    return load_thresholds_of(_read_yaml(path))


def load_thresholds_of(data: Any) -> tuple[dict[str, float], dict[str, str]]:
    """`load_thresholds` of a policy already read."""
    cats = data.get("categories") if isinstance(data, dict) else None
    thresholds: dict[str, float] = {}
    actions: dict[str, str] = {}
    if not isinstance(cats, dict):
        return thresholds, actions
    for name, spec in cats.items():
        if not isinstance(spec, dict):
            continue
        if isinstance(spec.get("action"), str):
            actions[str(name)] = spec["action"]
        thr = spec.get("threshold")
        if isinstance(thr, int | float) and not isinstance(thr, bool):
            thresholds[str(name)] = float(thr)
        elif isinstance(spec.get("min_score"), int | float):
            thresholds[str(name)] = round(1.0 - float(spec["min_score"]), 6)
            thresholds["_lang_score"] = float(spec["min_score"])
    return thresholds, actions


def resolve_policy(run_dir: str, config: dict[str, Any], explicit: str | None) -> tuple[str | None, str]:
    """The policy file to read thresholds from, and a sentence saying which (or why none)."""
    if explicit:
        cands = [explicit]
    else:
        flt = config.get("filter") if isinstance(config.get("filter"), dict) else {}
        rel = flt.get("policy") if isinstance(flt, dict) else None
        if rel is None:
            from filters.policy import default_policy_path

            return str(default_policy_path()), "thresholds from the policy shipped with winnow"
        if not isinstance(rel, str) or not rel:
            return None, "no filter.policy in config.yaml: thresholds not marked"
        cands = policy_candidates(run_dir, rel)
    for c in cands:
        try:
            if storage.exists(c):
                return c, f"thresholds from {c}"
        except Exception:
            continue
    return None, f"policy file not found (tried {', '.join(cands)}): thresholds not marked"


def stage_names(ledger: dict[str, Any], config: dict[str, Any]) -> list[str]:
    names = [s.get("name") for s in ledger.get("stages", []) if isinstance(s, dict)]
    if not names and isinstance(config.get("stages"), list):
        names = list(config["stages"])
    return [str(n) for n in names if n]


def _every_bucket(counts: dict[str, int]) -> dict[str, int]:
    """Counts per `dedup.cluster_sizes` bucket, empty buckets included (a chart's fixed categories)."""
    return {**dict.fromkeys(CLUSTER_SIZE_BUCKETS, 0), **counts}


def read_clusters(run_dir: str, ledger: dict[str, Any], max_rows: int) -> list[ClusterInfo]:
    """Cluster-size histograms from `clusters/<stage>.parquet`, else from the ledger's buckets."""
    out: list[ClusterInfo] = []
    seen = set()
    for path in layout.cluster_files(run_dir):
        stage = layout.part_name(path)
        s = read_sample([path], ["size", "kind"], max_rows)
        t = s.table
        if "size" not in t.column_names:
            continue
        sizes = [int(v) for v in t["size"].to_pylist() if v is not None]
        buckets = _every_bucket(cluster_size_histogram(sizes))
        kinds = Counter(t["kind"].to_pylist()) if "kind" in t.column_names else Counter()
        out.append(
            ClusterInfo(
                stage, buckets, s.total_rows, sum(sizes), dict(sorted(kinds.items())), s.note("clusters")
            )
        )
        seen.add(stage)
    for st in ledger.get("stages", []):
        sizes = st.get("cluster_sizes") if isinstance(st, dict) else None
        if st.get("name") in seen or not isinstance(sizes, dict) or not sizes:
            continue
        buckets = _every_bucket({str(k): int(v) for k, v in sizes.items()})
        out.append(
            ClusterInfo(
                st["name"],
                buckets,
                int(st.get("clusters", sum(buckets.values()))),
                0,
                {},
                "from stats.json (no clusters file)",
            )
        )
    return out


def read_quarantine(run_dir: str, stages: list[str], limit: int) -> tuple[dict[str, int], list[dict]]:
    qdir = layout.quarantine_root(run_dir)
    fs, p = storage.filesystem(qdir)
    found = []
    if fs.exists(p):
        found = sorted(
            posixpath.basename(i["name"].rstrip("/"))
            for i in fs.ls(p, detail=True)
            if i["type"] == "directory"
        )
    order = [s for s in stages if s in found] + [s for s in found if s not in stages]
    totals: dict[str, int] = {}
    rows: list[dict] = []
    for stage in order:
        parts = layout.parts(layout.StagePaths(run_dir, stage).quarantine_dir)
        if not parts:
            continue
        totals[stage] = count_rows(parts)
        for part in parts:
            if len(rows) >= limit:
                break
            pf = storage.open_parquet(part)
            cols = [c for c in ("source", "position", "stage", "error", "id") if c in pf.schema_arrow.names]
            for g in range(pf.metadata.num_row_groups):
                if len(rows) >= limit:
                    break
                for r in pf.read_row_group(g, columns=cols).to_pylist():
                    r.setdefault("stage", stage)
                    rows.append(r)
                    if len(rows) >= limit:
                        break
    return totals, rows


def find_train_log(run_dir: str, explicit: str | None) -> str | None:
    if explicit:
        return explicit
    tdir = layout.train_dir(run_dir)
    fs, p = storage.filesystem(tdir)
    if not fs.exists(p):
        return None
    found = sorted(f for f in fs.find(p) if f.endswith(".jsonl"))
    if not found:
        return None
    preferred = [f for f in found if posixpath.basename(f) in ("log.jsonl", "train_log.jsonl")]
    pick = (preferred or found)[0]
    prefix = run_dir.split("://", 1)[0] + "://" if not storage.is_local(run_dir) else ""
    return prefix + pick if prefix and not pick.startswith(prefix) else pick


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if v == v and abs(v) != float("inf") else None


def read_train_log(path: str) -> TrainLog:
    """Train and val losses against step; tolerant of missing keys and broken lines."""
    log = TrainLog(path)
    try:
        text = storage.read_text(path)
    except Exception:  # a missing explicit log is reported, not fatal
        log.bad_lines = -1
        return log
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            log.bad_lines += 1
            continue
        if not isinstance(rec, dict):
            log.bad_lines += 1
            continue
        log.records += 1
        step = _num(rec.get("step"))
        loss, val = _num(rec.get("loss")), _num(rec.get("val_loss"))
        if step is not None and loss is not None and rec.get("kind", "train") != "val":
            log.steps.append(step)
            log.loss.append(loss)
            log.last = rec
            tps = _num(rec.get("tokens_per_s"))
            if tps is not None:
                log.tokens_per_s.append(tps)
        if step is not None and val is not None:
            log.val_steps.append(step)
            log.val_loss.append(val)
    return log


def read_tokens(run_dir: str, ledger: dict[str, Any]) -> dict[str, Any] | None:
    """Per-split rows/tokens/documents from tokens/manifest.json, else from the tokenize stage's ledger."""
    path = layout.tokens_manifest(run_dir)
    try:
        if storage.exists(path):
            m = storage.read_json(path)
            splits = {}
            for name, s in sorted((m.get("splits") or {}).items()):
                if isinstance(s, dict):
                    splits[name] = {
                        "rows": s.get("rows"),
                        "tokens": s.get("tokens"),
                        "documents": s.get("documents"),
                        "shards": len(s.get("shards") or []),
                        "dropped_tokens": s.get("dropped_tokens"),
                        "pad_tokens": s.get("pad_tokens"),
                    }
            return {
                "source": "tokens/manifest.json",
                "splits": splits,
                "total_tokens": m.get(
                    "total_tokens", sum(int(s.get("tokens") or 0) for s in splits.values())
                ),
                "vocab_size": m.get("vocab_size"),
                "seq_len": m.get("seq_len"),
            }
    except Exception:  # fall back to the ledger
        pass
    for st in ledger.get("stages", []):
        if isinstance(st, dict) and isinstance(st.get("tokens_by_split"), dict):
            rows = st.get("rows_by_split") or {}
            docs = st.get("documents_by_split") or {}
            splits = {
                k: {"rows": rows.get(k), "tokens": v, "documents": docs.get(k), "shards": None}
                for k, v in sorted(st["tokens_by_split"].items())
            }
            return {
                "source": "stats.json",
                "splits": splits,
                "total_tokens": st.get("tokens", sum(splits[k]["tokens"] or 0 for k in splits)),
                "vocab_size": st.get("vocab_size"),
                "seq_len": None,
            }
    return None


def check_explicit_policy(path: str) -> None:
    """A policy file given by name must exist, be YAML and hold category thresholds (ReportInputError)."""
    import yaml

    action = "give a policy file such as configs/policy.yaml, or leave --policy out to use the run's"
    try:
        data = yaml.safe_load(storage.read_text(path))
    except (OSError, ValueError) as e:
        reason = "not found" if isinstance(e, FileNotFoundError) else str(e).splitlines()[0]
        raise ReportInputError(f"cannot read policy {path}: {reason} — {action}") from None
    except yaml.YAMLError as e:
        reason = " ".join(str(e).split())
        raise ReportInputError(f"policy {path} is not valid YAML ({reason}) — {action}") from None
    if not load_thresholds_of(data)[0]:
        raise ReportInputError(
            f"policy {path} has no category thresholds (categories: {{name: {{threshold: ...}}}}) — {action}"
        )


def check_explicit_train_log(path: str) -> None:
    """A train log given by name must exist and hold at least one JSON record (ReportInputError)."""
    action = "give the train_log.jsonl `winnow train` wrote into its --out, or leave --train-log out"
    log = read_train_log(path)
    if log.bad_lines == -1:
        raise ReportInputError(f"cannot read train log {path} — {action}")
    if log.records == 0:
        raise ReportInputError(f"train log {path} holds no JSON records — {action}")


# -- everything ------------------------------------------------------------------------------------


def collect(
    run_dir: str,
    *,
    train_log: str | None = None,
    policy: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ReportData:
    """Read what the report shows; raises only when there is no `stats.json` at all (FileNotFoundError)
    or an explicit `policy` or `train_log` cannot be used (ReportInputError)."""
    stats_path = layout.stats_path(run_dir)
    if not storage.exists(stats_path):
        raise FileNotFoundError(
            f"{stats_path} not found: {run_dir} is not a run directory (or no stage finished yet) — give "
            "the run directory `winnow run` wrote, e.g. runs/default"
        )
    if policy:
        check_explicit_policy(policy)
    if train_log:
        check_explicit_train_log(train_log)
    ledger = storage.read_json(stats_path)
    config = _read_yaml(layout.config_path(run_dir))
    name = str(config.get("name") or posixpath.basename(run_dir.rstrip("/")) or run_dir)
    data = ReportData(run_dir=run_dir, name=name, date=_run_date(run_dir), ledger=ledger, config=config)

    data.policy_path, data.policy_note = resolve_policy(run_dir, config, policy)
    if data.policy_path:
        data.thresholds, data.actions = load_thresholds(data.policy_path)
        if not data.thresholds:
            data.policy_note += " (no category thresholds found in it)"

    stages = stage_names(ledger, config)
    # Scores: the first stage whose output carries score_* columns is the one that filtered.
    for st in stages:
        kept_parts = layout.parts(layout.StagePaths(run_dir, st).out_dir)
        rej_parts = layout.parts(layout.StagePaths(run_dir, st).rejected_dir)
        names = schema_names(kept_parts) or schema_names(rej_parts)
        score_cols = [c for c in names if c.startswith("score_")]
        if not score_cols:
            continue
        cols = [*score_cols, "quality", "lang_score", "lang", "reason"]  # absent ones are skipped
        data.score_stage = st
        data.scores_kept = read_sample(kept_parts, cols, max_rows)
        data.scores_removed = read_sample(rej_parts, cols, max_rows)
        rem = data.scores_removed.table
        if {"lang", "reason"} <= set(rem.column_names) and rem.num_rows:
            lang_rows = rem.filter(pc.equal(rem["reason"], "language"))
            data.langs_removed = Counter(v or "unknown" for v in lang_rows["lang"].to_pylist())
            data.langs_removed_note = (
                f"{lang_rows.num_rows:,} removed for `language` at {st}, among "
                + data.scores_removed.note("removed rows")
            )
        break
    # Languages of kept documents: the last document stage that has a `lang` column.
    for st in reversed(stages):
        kept_parts = layout.parts(layout.StagePaths(run_dir, st).out_dir)
        if kept_parts and "lang" in schema_names(kept_parts):
            s = read_sample(kept_parts, ["lang"], max_rows)
            data.langs_kept = Counter(v or "unknown" for v in s.table["lang"].to_pylist())
            data.langs_kept_note = f"kept after {st}: " + s.note("documents")
            break

    data.clusters = read_clusters(run_dir, ledger, max_rows)
    data.tokens = read_tokens(run_dir, ledger)
    data.quarantine_total, data.quarantine_rows = read_quarantine(run_dir, stages, QUARANTINE_ROWS)
    log_path = find_train_log(run_dir, train_log)
    if log_path:
        data.train = read_train_log(log_path)
    return data
