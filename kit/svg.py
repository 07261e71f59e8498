"""Inline SVG charts, for the run report and the trainer's loss curve: no JS library, no network.

Why hand-written SVG: the report must be one self-contained file that opens
offline and in locked-down viewers, and these five chart shapes are small
enough that a plotting library would cost more (size, fonts, scripts) than it
gives. Every chart carries <title>/<desc> for screen readers and a <title>
tooltip on each mark; the numbers are repeated in an HTML table by the caller.

Why in the kit: the loss curve is drawn once (`loss_chart`), for the report (inline) and for the
trainer (`loss_curve.svg`, `svg_document`), and the report may not import the trainer. Standard
library only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Tableau 10: distinguishable, colour-blind friendlier than matplotlib's defaults.
PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]
KEPT = "#4e79a7"
REMOVED = "#e15759"
QUARANTINED = "#bab0ac"
INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e4e7eb"
FONT = 12


@dataclass(frozen=True)
class Segment:
    name: str
    value: float
    color: str


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    color: str


@dataclass(frozen=True)
class Line:
    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: str
    markers: bool = False


def compact(v: float) -> str:
    """Axis-tick label: 1.2k, 3.4M; exact for small integers."""
    a = abs(v)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            s = f"{v / div:.1f}".rstrip("0").rstrip(".")
            return s + suffix
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.3g}"


def nice_ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """About `n` round tick values from at or below `lo` to at or above `hi` (whole steps for counts)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    if integer:
        raw = max(raw, 1.0)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw and (not integer or m * mag >= 1))
    if integer and not float(step).is_integer():
        step = math.ceil(step)
    start = math.floor(lo / step) * step
    count = max(1, math.ceil((hi - start) / step - 1e-9))
    return [round(start + k * step, 12) for k in range(count + 1)]


class _Scale:
    """Maps counts to pixels, linear or log10(1 + v) (so zero counts still plot on a log axis)."""

    def __init__(self, vmax: float, pixels: float, log: bool):
        self.log = log
        self.pixels = pixels
        if log:
            self.top = 10 ** math.ceil(math.log10(max(vmax, 1.0) + 1))
            self.ticks = [0.0] + [10.0**k for k in range(int(math.log10(self.top)) + 1)]
        else:
            self.ticks = nice_ticks(0.0, max(vmax, 1.0), integer=True)
            self.top = self.ticks[-1] if self.ticks[-1] > 0 else 1.0

    def __call__(self, v: float) -> float:
        if self.log:
            return self.pixels * math.log10(1 + max(v, 0.0)) / math.log10(1 + self.top)
        return self.pixels * max(v, 0.0) / self.top


def _open(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    # ids come from stage and category names: keep them to characters valid in an IDREF list.
    cid = re.sub(r"[^A-Za-z0-9_-]", "_", chart_id)
    return [
        f'<svg class="chart" id="{cid}" role="img" aria-labelledby="{cid}-t {cid}-d" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="{FONT}">',
        f'<title id="{cid}-t">{escape(title)}</title>',
        f'<desc id="{cid}-d">{escape(desc)}</desc>',
    ]


def _text(x: float, y: float, s: str, anchor: str = "start", color: str = INK, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{color}"{extra}>{escape(s)}</text>'


def _rect(x: float, y: float, w: float, h: float, color: str, tip: str, opacity: float = 1.0) -> str:
    op = f' fill-opacity="{opacity}"' if opacity < 1 else ""
    return (
        f'<rect class="mark" x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
        f'fill="{color}"{op}><title>{escape(tip)}</title></rect>'
    )


def _legend(items: Sequence[tuple[str, str]], x: float, y: float, width: float) -> tuple[list[str], float]:
    """Legend swatches laid out left to right, wrapping; returns the parts and the height used."""
    out, cx, cy = [], x, y
    for name, color in items:
        w = 18 + 7 * len(name) + 14
        if cx + w > x + width and cx > x:
            cx, cy = x, cy + 18
        out.append(f'<rect x="{cx:.1f}" y="{cy - 10:.1f}" width="12" height="12" rx="2" fill="{color}"/>')
        out.append(_text(cx + 17, cy, name, color=MUTED))
        cx += w
    return out, (cy - y) + 18


def stacked_hbars(
    chart_id: str,
    title: str,
    desc: str,
    rows: Sequence[tuple[str, Sequence[Segment]]],
    width: int = 760,
) -> str:
    """One horizontal bar per row, split into segments; bars share one scale so lengths compare."""
    label_w, right_w, bar_h, gap = 120, 70, 22, 10
    plot_w = width - label_w - right_w
    totals = [sum(s.value for s in segs) for _, segs in rows]
    vmax = max(totals, default=0) or 1
    seen: dict[str, str] = {}
    for _, segs in rows:
        for s in segs:
            seen.setdefault(s.name, s.color)
    top = 8
    body_h = len(rows) * (bar_h + gap)
    legend, legend_h = _legend(list(seen.items()), label_w, top + body_h + 24, plot_w + right_w)
    height = int(top + body_h + 30 + legend_h)
    out = _open(chart_id, title, desc, width, height)
    for i, ((label, segs), total) in enumerate(zip(rows, totals, strict=True)):
        y = top + i * (bar_h + gap)
        out.append(_text(label_w - 8, y + bar_h * 0.7, label, anchor="end"))
        x = float(label_w)
        for s in segs:
            if s.value <= 0:
                continue
            w = plot_w * s.value / vmax
            out.append(_rect(x, y, w, bar_h, s.color, f"{label} – {s.name}: {s.value:,.0f}"))
            x += w
        out.append(_text(x + 6, y + bar_h * 0.7, f"{total:,.0f}", color=MUTED))
    axis_y = top + body_h
    out.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" stroke="{GRID}"/>')
    out.extend(legend)
    out.append("</svg>")
    return "\n".join(out)


def hbars(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float],
    color: str = KEPT,
    width: int = 520,
    value_fmt: str = "{:,.0f}",
) -> str:
    """Plain horizontal bars (languages, token splits)."""
    segs = [(lab, [Segment(lab, v, color)]) for lab, v in zip(labels, values, strict=True)]
    label_w, right_w, bar_h, gap, top = 90, 80, 16, 6, 6
    plot_w = width - label_w - right_w
    vmax = max(values, default=0) or 1
    height = top + len(segs) * (bar_h + gap) + 6
    out = _open(chart_id, title, desc, width, height)
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = top + i * (bar_h + gap)
        out.append(_text(label_w - 8, y + bar_h * 0.75, label, anchor="end"))
        w = plot_w * v / vmax
        out.append(_rect(label_w, y, w, bar_h, color, f"{label}: {value_fmt.format(v)}"))
        out.append(_text(label_w + w + 6, y + bar_h * 0.75, value_fmt.format(v), color=MUTED))
    out.append("</svg>")
    return "\n".join(out)


def _y_axis(out: list[str], scale: _Scale, x0: float, x1: float, y_bottom: float) -> None:
    for t in scale.ticks:
        y = y_bottom - scale(t)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="{GRID}"/>')
        if not (scale.log and t == 0):  # on a log axis 0 and 1 sit too close to label both
            out.append(_text(x0 - 6, y + 4, compact(t), anchor="end", color=MUTED))


def columns(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    width: int = 520,
    height: int = 220,
    log: bool = False,
    x_label: str = "",
) -> str:
    """Vertical bars over categories, series side by side (cluster-size histogram)."""
    left, right, top, bottom = 48, 10, 10, 44 if x_label else 28
    legend_h = 20 if len(series) > 1 else 0
    plot_w, plot_h = width - left - right, height - top - bottom - legend_h
    vmax = max((v for s in series for v in s.values), default=0)
    scale = _Scale(vmax, plot_h, log)
    out = _open(chart_id, title, desc, width, height)
    y0 = top + plot_h
    _y_axis(out, scale, left, left + plot_w, y0)
    slot = plot_w / max(len(labels), 1)
    bw = slot * 0.8 / max(len(series), 1)
    for i, label in enumerate(labels):
        for j, s in enumerate(series):
            v = s.values[i]
            h = scale(v)
            x = left + i * slot + slot * 0.1 + j * bw
            out.append(_rect(x, y0 - h, bw, h, s.color, f"{s.name} {label}: {v:,.0f}"))
        out.append(_text(left + (i + 0.5) * slot, y0 + 14, label, anchor="middle", color=MUTED))
    if x_label:
        out.append(_text(left + plot_w / 2, y0 + 32, x_label, anchor="middle", color=MUTED))
    if legend_h:
        leg, _ = _legend([(s.name, s.color) for s in series], left, height - 6, plot_w)
        out.extend(leg)
    out.append("</svg>")
    return "\n".join(out)


def histogram(
    chart_id: str,
    title: str,
    desc: str,
    edges: Sequence[float],
    series: Sequence[Series],
    threshold: float | None = None,
    log: bool = False,
    width: int = 360,
    height: int = 200,
) -> str:
    """Binned counts on a numeric axis, series overlaid translucent, with a dashed threshold line."""
    left, right, top, bottom = 44, 10, 12, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0
    vmax = max((v for s in series for v in s.values), default=0)
    scale = _Scale(vmax, plot_h, log)
    out = _open(chart_id, title, desc, width, height)
    y0 = top + plot_h

    def px(v: float) -> float:
        return left + plot_w * (v - lo) / span

    _y_axis(out, scale, left, left + plot_w, y0)
    for s in series:
        for k, v in enumerate(s.values):
            if v <= 0:
                continue
            x0, x1 = px(edges[k]), px(edges[k + 1])
            h = scale(v)
            tip = f"{s.name} [{edges[k]:.2f}, {edges[k + 1]:.2f}): {v:,.0f}"
            out.append(_rect(x0 + 0.5, y0 - h, x1 - x0 - 1, h, s.color, tip, opacity=0.65))
    for t in nice_ticks(lo, hi, 4):
        if lo <= t <= hi:
            out.append(_text(px(t), y0 + 14, compact(t), anchor="middle", color=MUTED))
    if threshold is not None and lo <= threshold <= hi:
        x = px(threshold)
        out.append(
            f'<line class="threshold" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{y0}" stroke="{INK}" '
            f'stroke-width="1.5" stroke-dasharray="4 3"><title>threshold {threshold:g}</title></line>'
        )
        anchor = "end" if x > left + plot_w * 0.7 else "start"
        out.append(_text(x + (-4 if anchor == "end" else 4), top + 10, f"threshold {threshold:g}", anchor))
    leg, _ = _legend([(s.name, s.color) for s in series], left, height - 6, plot_w)
    out.extend(leg)
    out.append("</svg>")
    return "\n".join(out)


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    lines: Sequence[Line],
    x_label: str,
    y_label: str,
    width: int = 760,
    height: int = 300,
) -> str:
    """Lines over a shared numeric x axis (training loss against step)."""
    left, right, top, bottom = 56, 14, 12, 62
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for ln in lines for x in ln.xs]
    ys = [y for ln in lines for y in ln.ys]
    xlo, xhi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    ylo, yhi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if xhi == xlo:
        xhi = xlo + 1
    yticks = nice_ticks(ylo, yhi if yhi > ylo else ylo + 1, 5)
    ylo, yhi = yticks[0], yticks[-1]
    out = _open(chart_id, title, desc, width, height)
    y0 = top + plot_h

    def px(x: float) -> float:
        return left + plot_w * (x - xlo) / (xhi - xlo)

    def py(y: float) -> float:
        return y0 - plot_h * (y - ylo) / ((yhi - ylo) or 1)

    for t in yticks:
        out.append(
            f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + plot_w}" y2="{py(t):.1f}" stroke="{GRID}"/>'
        )
        out.append(_text(left - 6, py(t) + 4, f"{t:g}", anchor="end", color=MUTED))
    for t in nice_ticks(xlo, xhi, 6):
        if xlo <= t <= xhi:
            out.append(_text(px(t), y0 + 15, compact(t), anchor="middle", color=MUTED))
    out.append(_text(left + plot_w / 2, y0 + 32, x_label, anchor="middle", color=MUTED))
    out.append(
        _text(
            14,
            top + plot_h / 2,
            y_label,
            anchor="middle",
            color=MUTED,
            extra=f' transform="rotate(-90 14 {top + plot_h / 2:.1f})"',
        )
    )
    for ln in lines:
        if not ln.xs:
            continue
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(ln.xs, ln.ys, strict=True))
        out.append(
            f'<polyline class="mark" points="{pts}" fill="none" stroke="{ln.color}" stroke-width="2" '
            f'stroke-linejoin="round"><title>{escape(ln.name)}</title></polyline>'
        )
        if ln.markers or len(ln.xs) == 1:
            for x, y in zip(ln.xs, ln.ys, strict=True):
                out.append(
                    f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{ln.color}">'
                    f"<title>{escape(ln.name)} step {x:g}: {y:.4f}</title></circle>"
                )
    leg, _ = _legend([(ln.name, ln.color) for ln in lines], left, height - 8, plot_w)
    out.extend(leg)
    out.append("</svg>")
    return "\n".join(out)


LOSS_POINTS = 2_000  # points per loss curve: a long run's curve stays small and quick to draw


def thin(xs: Sequence[float], ys: Sequence[float], n: int = LOSS_POINTS) -> tuple[list[float], list[float]]:
    """At most `n` evenly strided points, always keeping the last one."""
    if len(xs) <= n:
        return list(xs), list(ys)
    step = len(xs) / n
    idx = sorted({int(k * step) for k in range(n)} | {len(xs) - 1})
    return [xs[i] for i in idx], [ys[i] for i in idx]


def loss_chart(
    train: tuple[Sequence[float], Sequence[float]], val: tuple[Sequence[float], Sequence[float]]
) -> str:
    """Train and val loss against step, each given as (steps, losses); the one drawing of the curve."""
    lines, desc = [], []
    steps, loss = train
    if steps:
        lines.append(Line("train loss", *thin(steps, loss), KEPT))
        desc.append(
            f"train loss from {loss[0]:.4f} at step {steps[0]:g} to {loss[-1]:.4f} at step {steps[-1]:g}"
        )
    val_steps, val_loss = val
    if val_steps:
        xs, ys = thin(val_steps, val_loss)
        lines.append(Line("val loss", xs, ys, PALETTE[1], markers=len(xs) <= 60))
        desc.append(f"val loss last {val_loss[-1]:.4f} at step {val_steps[-1]:g}, best {min(val_loss):.4f}")
    return line_chart("chart-loss", "Training loss against step", "; ".join(desc), lines, "step", "loss")


def svg_document(chart: str) -> str:
    """A chart as a file of its own: the report inlines charts into a page whose font they inherit."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + chart.replace("<svg ", '<svg font-family="system-ui, sans-serif" ', 1)
        + "\n"
    )
