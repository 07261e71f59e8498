"""The bar a line judged on its own must reach to stop a streamed answer (`filters.stream.StreamGuard`).

Why a module of its own: the server's config checks a `line_margin` without loading the filters."""

from __future__ import annotations

import math
from collections.abc import Mapping

Margins = tuple[float, dict[str, float]]  # (every category's margin, per-category margins that replace it)
NO_MARGIN: Margins = (0.0, {})


def line_margins(margin: float | Mapping[str, float]) -> Margins:
    """A line margin as given (one number for every category, or category -> log-odds, 0 for a category not named),
    checked: each in [0, 20]. Raises ``ValueError`` on a bad one."""
    if isinstance(margin, Mapping):
        every, per_category = 0.0, {str(k): v for k, v in margin.items()}
    else:
        every, per_category = margin, {}
    for name, value in [("every category", every), *((repr(k), v) for k, v in per_category.items())]:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 20.0:
            raise ValueError(
                f"StreamGuard: line_margin of {name} must be in [0, 20] (log-odds), got {value!r}"
            )
    return float(every), {k: float(v) for k, v in per_category.items()}


def line_bar(threshold: float, min_score: float, margin: float) -> float:
    """The score a line must reach: the threshold, at least ``min_score``, and ``margin`` log-odds above the
    threshold (thresholds differ per category, 0.25 to 0.96 for harm, so one probability floor raises some not at
    all)."""
    bar = max(threshold, min_score)
    if margin > 0.0 and 0.0 < threshold < 1.0:
        bar = max(bar, 1.0 / (1.0 + math.exp(-(math.log(threshold / (1.0 - threshold)) + margin))))
    return bar
