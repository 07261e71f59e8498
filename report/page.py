"""`winnow report RUN_DIR`: one self-contained report.html of a run, for people to look at.

Funnel per stage, filter score histograms against the policy thresholds,
languages, duplicate cluster sizes, tokens per split, quarantined records and
the training loss. Charts are inline SVG (`kit.svg`), the numbers are read
by `report.data` (bounded, selective), and every chart's numbers are also in a
table. The file has no external resources and a CSP that forbids fetching any,
so it opens the same offline, in a mail attachment, or from object storage.
The same run directory gives the same bytes (the date shown is the run's own).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np

from kit.svg import (
    KEPT,
    PALETTE,
    QUARANTINED,
    REMOVED,
    Segment,
    Series,
    columns,
    hbars,
    histogram,
    loss_chart,
    stacked_hbars,
    thin,
)
from pipeline import layout, storage
from report.data import DEFAULT_MAX_ROWS, ReportData, Sample, collect

BINS = 20
TOP_LANGS = 15


def write_report(
    run_dir: str,
    out_path: str | None = None,
    *,
    train_log: str | None = None,
    policy: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> str:
    """Write the report of `run_dir` (default `<run_dir>/report.html`, atomically); return its path."""
    out_path = out_path or layout.report_path(run_dir)
    html = render(collect(run_dir, train_log=train_log, policy=policy, max_rows=max_rows))
    with storage.atomic_open(out_path, "wb") as f:
        f.write(html.encode("utf-8"))
    return out_path


# -- formatting helpers ----------------------------------------------------------------------------


def _n(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.1f}"
    return f"{int(v):,}"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _mb(b: Any) -> str:
    return f"{b / 1e6:,.1f}" if isinstance(b, int | float) and b else "–"


def _table(
    headers: list[str], rows: list[list[Any]], caption: str = "", numeric_from: int = 1, numeric_to: int = 99
) -> str:
    """An HTML table; cells are escaped, columns numeric_from..numeric_to-1 are right-aligned numbers."""
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    head = "".join(
        f'<th scope="col"{" class=num" if numeric_from <= i < numeric_to else ""}>{escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            cls = ' class="num"' if numeric_from <= i < numeric_to else ""
            tag = "th scope=row" if i == 0 else "td"
            cells.append(f"<{tag}{cls}>{escape(str(c))}</{tag.split()[0]}>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _section(sid: str, title: str, body: str, note: str = "") -> str:
    n = f'<p class="note">{escape(note)}</p>' if note else ""
    return f'<section id="{sid}"><h2>{escape(title)}</h2>{n}{body}</section>'


def _figure(svg: str, table: str = "", details: str = "numbers") -> str:
    t = f"<details><summary>{escape(details)}</summary>{table}</details>" if table else ""
    return f'<figure class="fig">{svg}{t}</figure>'


def _reason_colors(ledger: dict[str, Any]) -> dict[str, str]:
    reasons = sorted({r for s in ledger.get("stages", []) for r in (s.get("removed") or {})})
    others = PALETTE[1:-1]  # blue is "kept", grey is "quarantined"
    return {r: others[i % len(others)] for i, r in enumerate(reasons)}


# -- sections ---------------------------------------------------------------------------------------


def _summary(d: ReportData) -> str:
    led = d.ledger
    stages = led.get("stages", [])
    seconds = sum(float(s.get("seconds") or 0) for s in stages)
    tokens = (d.tokens or {}).get("total_tokens")
    rec = led.get("reconciles")
    cards = [
        ("documents in", _n(led.get("documents_in"))),
        ("documents out", _n(led.get("documents_out"))),
        (
            "removed",
            _n(led.get("removed_total", sum(sum((s.get("removed") or {}).values()) for s in stages))),
        ),
        ("quarantined", _n(led.get("quarantined_total", sum(s.get("quarantined", 0) for s in stages)))),
        ("tokens", _n(tokens) if tokens is not None else "–"),
        ("stage time", f"{seconds:,.1f} s"),
    ]
    html = "".join(
        f'<div class="card"><div class="v">{v}</div><div class="k">{escape(k)}</div></div>' for k, v in cards
    )
    badge = (
        '<span class="badge ok">ledger reconciles</span>'
        if rec
        else '<span class="badge bad">ledger does NOT reconcile</span>'
        if rec is False
        else ""
    )
    return f'<div class="cards">{html}</div>{badge}'


def _funnel(d: ReportData) -> str:
    stages = d.ledger.get("stages", [])
    if not stages:
        return _section("funnel", "Funnel", "<p>No stage has finished.</p>")
    colors = _reason_colors(d.ledger)
    rows, trs = [], []
    for s in stages:
        removed = s.get("removed") or {}
        segs = [Segment("kept", float(s.get("kept", 0)), KEPT)]
        segs += [
            Segment(r, float(n), colors[r])
            for r, n in sorted(removed.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        segs.append(Segment("quarantined", float(s.get("quarantined", 0)), QUARANTINED))
        rows.append((str(s.get("name")), segs))
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(removed.items(), key=lambda kv: (-kv[1], kv[0])))
        trs.append(
            [
                s.get("name"),
                _n(s.get("input")),
                _n(s.get("kept")),
                _pct(s.get("kept", 0), s.get("input", 0)),
                _n(sum(removed.values())),
                _n(s.get("quarantined")),
                f"{float(s.get('seconds') or 0):,.1f}",
                _mb(s.get("bytes_in")),
                _mb(s.get("bytes_out")),
                reasons or "–",
            ]
        )
    svg = stacked_hbars(
        "chart-funnel",
        "Documents per stage: kept, removed by reason, quarantined",
        "; ".join(
            f"{name}: " + ", ".join(f"{sg.name} {sg.value:,.0f}" for sg in segs if sg.value)
            for name, segs in rows
        ),
        rows,
    )
    table = _table(
        [
            "stage",
            "in",
            "kept",
            "kept %",
            "removed",
            "quarantined",
            "seconds",
            "MB in",
            "MB out",
            "removed by reason",
        ],
        trs,
        "Per-stage ledger (stats.json; exact counts)",
        numeric_to=9,
    )
    return _section(
        "funnel",
        "Funnel",
        _figure(svg) + table,
        "Exact counts from stats.json: in = kept + removed + quarantined.",
    )


def _hist(values: np.ndarray, edges: np.ndarray) -> list[int]:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return [0] * (len(edges) - 1)
    clipped = np.clip(values, edges[0], edges[-1])
    return [int(c) for c in np.histogram(clipped, bins=edges)[0]]


def _column(sample: Sample | None, name: str) -> np.ndarray:
    if sample is None or name not in sample.table.column_names:
        return np.array([], dtype=np.float64)
    return sample.table[name].to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


@dataclass(frozen=True)
class _Score:
    """One score column of the filtering stage, on both sides of its decision."""

    column: str  # score_<category>, quality or lang_score
    kept: np.ndarray  # the column's values in the kept rows read (NaN where missing)
    removed: np.ndarray  # ... and in the removed rows read
    threshold: float | None  # the policy's line for it, None when the policy draws none

    @property
    def is_category(self) -> bool:
        return self.column.startswith("score_")

    @property
    def category(self) -> str:
        return self.column.removeprefix("score_")

    @property
    def label(self) -> str:
        return self.category if self.is_category else self.column


@dataclass(frozen=True)
class _ScoreHistogram:
    """Kept and removed counts of a score in BINS equal bins over [lo, hi] (at least [0, 1])."""

    lo: float
    hi: float
    edges: np.ndarray
    kept: list[int]
    removed: list[int]
    log: bool  # counts spread over more than 50x: the chart's y axis is logarithmic


def _score_columns(d: ReportData) -> list[str]:
    """Every `score_<category>` column of the rows read, by name, then `quality` and `lang_score` if present."""
    present = d.scores_kept.table.column_names + d.scores_removed.table.column_names
    categories = sorted({c for c in present if c.startswith("score_")})
    return categories + [c for c in ("quality", "lang_score") if c in present]


def _score_threshold(d: ReportData, column: str) -> float | None:
    """The policy's threshold for a score column: `lang_score` has the language rule's minimum; `quality`
    none (its rule is not a threshold on this score)."""
    if column == "quality":
        return None
    return d.thresholds.get("_lang_score" if column == "lang_score" else column.removeprefix("score_"))


def _score_histogram(score: _Score) -> _ScoreHistogram:
    values = np.concatenate([score.kept, score.removed])
    values = values[~np.isnan(values)]
    lo = min(0.0, float(values.min())) if values.size else 0.0
    hi = max(1.0, float(values.max())) if values.size else 1.0
    edges = np.linspace(lo, hi, BINS + 1)
    kept, removed = _hist(score.kept, edges), _hist(score.removed, edges)
    nonzero = [count for count in kept + removed if count > 0]
    log = bool(nonzero) and max(nonzero) / min(nonzero) > 50
    return _ScoreHistogram(lo, hi, edges, kept, removed, log)


def _score_figure(score: _Score) -> str:
    """A score's histogram, kept against removed, with the threshold line and its bin counts as a table."""
    h = _score_histogram(score)
    kept_read, removed_read = int((~np.isnan(score.kept)).sum()), int((~np.isnan(score.removed)).sum())
    desc = (
        f"Histogram of {score.label} over [{h.lo:g}, {h.hi:g}] in {BINS} bins; kept {kept_read:,} "
        f"documents, removed {removed_read:,}"
        + (f"; threshold {score.threshold:g}" if score.threshold is not None else "")
        + ("; log scale counts" if h.log else "")
    )
    svg = histogram(
        f"chart-score-{score.label}",
        f"{score.label} score: kept vs removed",
        desc,
        list(h.edges),
        [Series("kept", h.kept, KEPT), Series("removed", h.removed, REMOVED)],
        threshold=score.threshold,
        log=h.log,
    )
    bins = [[f"[{h.edges[k]:.2f}, {h.edges[k + 1]:.2f})", h.kept[k], h.removed[k]] for k in range(BINS)]
    table = _table(["bin", "kept", "removed"], bins)
    return (
        f'<div class="hist"><h3>{escape(score.label)}{" <span class=log>log y</span>" if h.log else ""}</h3>'
        + _figure(svg, table, "bin counts")
        + "</div>"
    )


def _score_row(d: ReportData, score: _Score, removed_by_reason: dict[str, int]) -> list[str]:
    """A score's line of the summary table: its rule, action, exact removals, rows past its threshold, means."""
    rule, on_removed_side = _removal_rule(score.column, score.threshold)
    kept_past, removed_past = (
        int(on_removed_side(score.kept).sum()),
        int(on_removed_side(score.removed).sum()),
    )
    has_threshold = score.threshold is not None
    return [
        score.label,
        rule,
        d.actions.get(score.category, "–") if score.is_category else "–",
        _n(removed_by_reason.get(score.category, 0)) if score.is_category else "–",
        f"{kept_past:,} ({_pct(kept_past, score.kept.size)})" if has_threshold else "–",
        f"{removed_past:,} ({_pct(removed_past, score.removed.size)})" if has_threshold else "–",
        f"{np.nanmean(score.kept):.3f}" if score.kept.size else "–",
        f"{np.nanmean(score.removed):.3f}" if score.removed.size else "–",
    ]


def _scores_table(rows: list[list[str]]) -> str:
    return _table(
        [
            "score",
            "removed when",
            "action",
            "removed for it (exact)",
            "kept past threshold",
            "removed past threshold",
            "mean kept",
            "mean removed",
        ],
        rows,
        "Per detector category (counts other than 'removed for it' are from the rows read)",
    )


def _scores_note(d: ReportData) -> str:
    return (
        f"Stage {d.score_stage}: kept = {d.scores_kept.note('kept rows')}; removed = "
        f"{d.scores_removed.note('removed rows')}. {d.policy_note}. A category's score is the maximum of its "
        "detectors' scores; a detector may carry its own threshold, so kept rows can sit above the category line."
        + (
            LANGUAGE_NOTE.format(min_score=d.thresholds["_lang_score"])
            if "_lang_score" in d.thresholds
            else ""
        )
    )


def _scores(d: ReportData) -> str:
    """The filter-scores section: a summary table and one histogram per score column."""
    if d.score_stage is None or d.scores_kept is None or d.scores_removed is None:
        return _section(
            "scores",
            "Filter scores",
            "<p>No stage wrote detector scores (no <code>score_*</code> columns).</p>",
        )
    removed_by_reason = next(
        (s.get("removed") or {} for s in d.ledger.get("stages", []) if s.get("name") == d.score_stage), {}
    )
    scores = [
        _Score(
            column,
            _column(d.scores_kept, column),
            _column(d.scores_removed, column),
            _score_threshold(d, column),
        )
        for column in _score_columns(d)
    ]
    figures = "".join(_score_figure(score) for score in scores)
    table = _scores_table([_score_row(d, score, removed_by_reason) for score in scores])
    return _section("scores", "Filter scores", table + f'<div class="grid">{figures}</div>', _scores_note(d))


LANGUAGE_NOTE = (
    " One language rule, seen from two sides: the policy keeps a document whose language is in its keep "
    "list with lang_score ≥ {min_score:g}; the language score is 1 − lang_score (1 for a language not "
    "kept), so it removes above 1 − {min_score:g}. A removed document with a high lang_score is in a "
    "language the policy does not keep."
)


def _removal_rule(col: str, thr: float | None) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """How the policy uses a score's threshold: the rule as shown, and which scores fall on the removed side.

    Categories remove at score ≥ threshold; `lang_score` is a minimum (removed below it); the
    language category's score is 1 − lang_score, removed strictly above 1 − min_score.
    """
    if thr is None:
        return "–", lambda v: np.zeros(v.shape, dtype=bool)
    if col == "lang_score":
        return f"< {thr:g}", lambda v: v < thr
    if col == "score_language":
        return f"> {thr:g}", lambda v: v > thr
    return f"≥ {thr:g}", lambda v: v >= thr


def _langs(d: ReportData) -> str:
    parts = []
    for cid, title, counts, color, note in (
        ("chart-lang-kept", "Languages of kept documents", d.langs_kept, KEPT, d.langs_kept_note),
        (
            "chart-lang-removed",
            "Languages removed by the language filter",
            d.langs_removed,
            REMOVED,
            d.langs_removed_note,
        ),
    ):
        if not counts:
            continue
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_LANGS]
        total = sum(counts.values())
        other = total - sum(v for _, v in top)
        labels = [k for k, _ in top] + (["other"] if other else [])
        values = [float(v) for _, v in top] + ([float(other)] if other else [])
        svg = hbars(
            cid,
            title,
            f"{note}. " + ", ".join(f"{k} {int(v):,}" for k, v in zip(labels, values, strict=True)),
            labels,
            values,
            color,
        )
        tab = _table(
            ["language", "documents", "share"],
            [[k, _n(v), _pct(v, total)] for k, v in zip(labels, values, strict=True)],
        )
        parts.append(
            f'<div class="half"><h3>{escape(title)}</h3><p class="note">{escape(note)}</p>{_figure(svg)}{tab}</div>'
        )
    if not parts:
        return _section("languages", "Languages", "<p>No <code>lang</code> column in any stage's output.</p>")
    return _section("languages", "Languages", f'<div class="grid2">{"".join(parts)}</div>')


def _clusters(d: ReportData) -> str:
    if not d.clusters:
        return _section(
            "duplicates",
            "Duplicate clusters",
            "<p>No clusters recorded (no dedup stage ran, or it found none).</p>",
        )
    parts = []
    for c in d.clusters:
        labels = list(c.buckets)
        values = [float(c.buckets[k]) for k in labels]
        pos = [v for v in values if v > 0]
        log = bool(pos) and max(pos) / min(pos) > 50
        svg = columns(
            f"chart-clusters-{c.stage}",
            f"{c.stage}: duplicate clusters by size",
            f"Clusters by number of member documents ({c.note}): "
            + ", ".join(f"size {k}: {int(v):,}" for k, v in zip(labels, values, strict=True))
            + ("; log scale counts" if log else ""),
            labels,
            [Series("clusters", values, PALETTE[6])],
            log=log,
            x_label="documents in cluster",
        )
        rows = [[k, _n(v)] for k, v in zip(labels, values, strict=True)]
        tab = _table(["cluster size", "clusters"], rows)
        kinds = ", ".join(f"{k}: {v:,}" for k, v in c.by_kind.items())
        facts = f"{c.clusters:,} clusters" + (f" holding {c.documents:,} documents" if c.documents else "")
        facts += f" ({kinds})" if kinds else ""
        parts.append(
            f'<div class="half"><h3>{escape(c.stage)}</h3><p class="note">{escape(facts)}; {escape(c.note)}.</p>'
            f"{_figure(svg)}{tab}</div>"
        )
    return _section("duplicates", "Duplicate clusters", f'<div class="grid2">{"".join(parts)}</div>')


def _tokens(d: ReportData) -> str:
    t = d.tokens
    if not t or not t.get("splits"):
        return _section("tokens", "Tokens", "<p>No tokenized dataset in this run.</p>")
    splits = t["splits"]
    total = sum(int(s.get("tokens") or 0) for s in splits.values())
    rows = [
        [
            k,
            _n(s.get("tokens")),
            _pct(int(s.get("tokens") or 0), total),
            _n(s.get("rows")),
            _n(s.get("documents")),
            _n(s.get("shards")),
            _n(s.get("dropped_tokens")),
            _n(s.get("pad_tokens")),
        ]
        for k, s in splits.items()
    ]
    labels = list(splits)
    values = [float(splits[k].get("tokens") or 0) for k in labels]
    svg = hbars(
        "chart-tokens",
        "Tokens per split",
        ", ".join(f"{k}: {int(v):,} tokens" for k, v in zip(labels, values, strict=True)),
        labels,
        values,
        PALETTE[4],
    )
    meta = f"total {int(t.get('total_tokens') or total):,} tokens"
    meta += f"; vocabulary {t['vocab_size']:,}" if t.get("vocab_size") else ""
    meta += f"; sequence length {t['seq_len']:,}" if t.get("seq_len") else ""
    tab = _table(
        ["split", "tokens", "share", "rows", "documents", "shards", "dropped tokens", "pad tokens"], rows
    )
    return _section("tokens", "Tokens", _figure(svg) + tab, f"From {t['source']}: {meta}.")


def _quarantine(d: ReportData) -> str:
    total = sum(d.quarantine_total.values())
    if not total:
        return _section("quarantine", "Quarantine", "<p>Nothing was quarantined.</p>")
    per = ", ".join(f"{s}: {n:,}" for s, n in d.quarantine_total.items())
    rows = []
    for r in d.quarantine_rows:
        err = str(r.get("error") or "")
        first = err.strip().splitlines()[0] if err.strip() else ""
        rows.append(
            [
                r.get("stage", ""),
                r.get("source", ""),
                "–" if r.get("position") is None else r["position"],
                first[:300],
            ]
        )
    shown = f"first {len(rows):,} of {total:,}" if len(rows) < total else f"all {total:,}"
    tab = _table(["stage", "source", "position", "error (first line)"], rows, numeric_from=99)
    return _section("quarantine", "Quarantine", tab, f"{total:,} unreadable records ({per}); {shown} shown.")


def _training(d: ReportData) -> str:
    log = d.train
    if log is None:
        return ""
    if log.bad_lines < 0:
        return _section("training", "Training", f"<p>Training log {escape(log.path)} could not be read.</p>")
    if not log.steps and not log.val_steps:
        return _section(
            "training", "Training", f"<p>Training log {escape(log.path)} has no loss records.</p>"
        )
    svg = loss_chart((log.steps, log.loss), (log.val_steps, log.val_loss))
    facts = [
        ["records", _n(log.records)],
        ["last step", _n(max(log.steps + log.val_steps))],
        ["first train loss", f"{log.loss[0]:.4f}" if log.loss else "–"],
        ["last train loss", f"{log.loss[-1]:.4f}" if log.loss else "–"],
        ["last val loss", f"{log.val_loss[-1]:.4f}" if log.val_loss else "–"],
        ["best val loss", f"{min(log.val_loss):.4f}" if log.val_loss else "–"],
        ["median tokens/s", _n(round(statistics.median(log.tokens_per_s))) if log.tokens_per_s else "–"],
        [
            "last learning rate",
            f"{log.last['lr']:.3g}" if isinstance(log.last.get("lr"), int | float) else "–",
        ],
    ]
    note = f"From {log.path}" + (f"; {log.bad_lines} unreadable lines skipped" if log.bad_lines else "") + "."
    pts = [[f"{x:g}", f"{y:.4f}", ""] for x, y in zip(*thin(log.steps, log.loss, 50), strict=True)]
    pts += [[f"{x:g}", "", f"{y:.4f}"] for x, y in zip(*thin(log.val_steps, log.val_loss, 50), strict=True)]
    pts.sort(key=lambda r: float(r[0]))
    detail = _table(["step", "train loss", "val loss"], pts, "Up to 50 points of each curve")
    return _section(
        "training", "Training", _figure(svg, detail, "loss points") + _table(["", "value"], facts), note
    )


# -- page ---------------------------------------------------------------------------------------------

CSS = """
:root{--ink:#1f2933;--muted:#6b7785;--line:#e4e7eb;--bg:#f7f8fa;--card:#fff;--accent:#4e79a7}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
header{background:#fff;border-bottom:1px solid var(--line);padding:20px 32px}
header h1{margin:0;font-size:22px;font-weight:650}
header .meta{color:var(--muted);margin-top:4px}
nav{position:sticky;top:0;background:#fffffff2;border-bottom:1px solid var(--line);padding:8px 32px;z-index:1}
nav a{color:var(--accent);text-decoration:none;margin-right:18px;font-weight:500}
nav a:hover,nav a:focus{text-decoration:underline}
main{max-width:1180px;margin:0 auto;padding:8px 32px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin:18px 0}
h2{margin:0 0 6px;font-size:18px}
h3{margin:10px 0 4px;font-size:14px}
.note{color:var(--muted);margin:0 0 10px;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:6px 0 10px}
.card{flex:1 1 140px;border:1px solid var(--line);border-radius:8px;padding:10px 14px;background:#fbfcfd}
.card .v{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.badge{display:inline-block;border-radius:99px;padding:2px 10px;font-size:12px;font-weight:600}
.badge.ok{background:#e3f1e6;color:#2f6b3a}.badge.bad{background:#fbe3e4;color:#a1262d}
.log{font-weight:400;color:var(--muted);font-size:11px;border:1px solid var(--line);border-radius:4px;padding:0 4px}
figure.fig{margin:8px 0}
svg.chart{max-width:100%;height:auto;display:block}
svg.chart text{font-family:inherit}
svg.chart .mark:hover{opacity:.8}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:8px 18px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:8px 28px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px;font-variant-numeric:tabular-nums}
caption{text-align:left;color:var(--muted);font-size:12px;padding-bottom:4px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#f1f3f6;font-weight:600}
tbody th{font-weight:500}
td{word-break:break-word}
.num{text-align:right;white-space:nowrap;word-break:normal}
details summary{cursor:pointer;color:var(--accent);font-size:12px}
footer{color:var(--muted);font-size:12px;text-align:center;padding:0 0 24px}
code{background:#f1f3f6;border-radius:4px;padding:0 4px}
"""

# Marks the page as drawn once every chart has a size and marks: a cheap self-check for people and tests.
JS = """
window.addEventListener("load", function () {
  var charts = document.querySelectorAll("svg.chart"), drawn = 0;
  for (var i = 0; i < charts.length; i++) {
    var r = charts[i].getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && charts[i].querySelector(".mark")) drawn++;
  }
  document.body.setAttribute("data-charts", String(charts.length));
  document.body.setAttribute("data-rendered", String(drawn));
});
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def render(d: ReportData) -> str:
    """The whole page as a string."""
    sections = [
        ("summary", "Summary", _section("summary", "Summary", _summary(d))),
        ("funnel", "Funnel", _funnel(d)),
        ("scores", "Scores", _scores(d)),
        ("languages", "Languages", _langs(d)),
        ("duplicates", "Duplicates", _clusters(d)),
        ("tokens", "Tokens", _tokens(d)),
        ("quarantine", "Quarantine", _quarantine(d)),
        ("training", "Training", _training(d)),
    ]
    sections = [s for s in sections if s[2]]
    nav = "".join(f'<a href="#{sid}">{escape(label)}</a>' for sid, label, _ in sections)
    stages = " → ".join(str(s.get("name")) for s in d.ledger.get("stages", []))
    title = f"winnow report — {d.name}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n"
        f"<body><header><h1>{escape(title)}</h1>"
        f'<div class="meta">{escape(d.run_dir)} · {escape(d.date)} · {escape(stages or "no stages")}</div></header>'
        f'<nav aria-label="sections">{nav}</nav><main>\n'
        + "\n".join(s for _, _, s in sections)
        + "\n</main><footer>Generated by <code>winnow report</code>. Funnel and token counts are exact; "
        "score histograms and languages are computed from the rows read, as each section says.</footer>"
        f"<script>{JS}</script></body></html>\n"
    )
