"""Size-aware two-sample drift figures of a column sketch against its reference profile: KS or Wasserstein, chi² or JS.

The method depends on the effective size n·m/(n+m) of the comparison (current non-null values n,
reference non-null values m):

    effective size <= P_VALUE_MAX_SIZE   numeric: two-sample KS, p < 0.01      categorical: chi² on the
                                         2 x k contingency table, p < 0.01 — and in both, a distance at
                                         least EFFECT_FLOOR (a tiny effect is never drift)
    above it                             numeric: Wasserstein-1 in reference standard deviations >= 0.1
                                         categorical: Jensen-Shannon distance >= 0.1

Above about a thousand values a p-value flags differences far too small to matter (a
million-row batch "drifts" from its own population's reference because of rounding in the
training sample); a distance measures how far apart the two are, whatever the size.

Both numeric figures are taken on the sketch's grid, across the reference's 1st..99th
percentiles: KS as the largest CDF gap at the grid's edges (a lower bound of the exact D), and
Wasserstein-1 as the area between the two CDFs there (a trimmed Wasserstein distance; beyond
those percentiles the profile's 101 quantiles cannot tell the reference's shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlgate.stats.drift import (
    EFFECT_FLOOR,
    JENSEN_SHANNON_THRESHOLD,
    P_VALUE,
    P_VALUE_MAX_SIZE,
    WASSERSTEIN_THRESHOLD,
    chi_square_two_sample,
    effective_size,
    jensen_shannon,
    kolmogorov_p_value,
)
from mlgate.stats.sketch import ColumnPlan, NumericSketch


@dataclass
class Comparison:
    """The figures of one column's two-sample comparison and the method whose verdict counts at this size."""

    method: str  # "ks" | "wasserstein" | "chi2" | "jensen-shannon"
    effective_size: float
    distance: float  # normalised Wasserstein (numeric) or Jensen-Shannon distance (categorical)
    statistic: float | None = None  # KS D or chi²
    p_value: float | None = None
    drifted: bool = False

    def describe(self) -> str:
        if self.method in ("ks", "chi2"):
            p = "n/a" if self.p_value is None else f"{self.p_value:.3g}"
            return f"{self.method} p={p} (effective size {self.effective_size:,.0f}; effect {self.distance:.3f})"
        return f"{self.method} {self.distance:.3f} (effective size {self.effective_size:,.0f})"


def reference_cdf(ref: dict[str, Any], plan: ColumnPlan) -> np.ndarray:
    """The reference's CDF at the plan's grid edges, from its 101 quantiles and the exact CDF at them."""
    quantiles = np.asarray(ref.get("quantiles") or [], dtype="float64")
    cdf = np.asarray(ref.get("cdf") or np.linspace(0, 1, quantiles.size), dtype="float64")
    grid = plan.grid()
    if plan.discrete:  # a step function: between integers nothing is added
        index = np.searchsorted(quantiles, grid, side="right") - 1
        return np.where(index < 0, 0.0, cdf[np.clip(index, 0, None)])
    return np.interp(grid, quantiles, cdf, left=0.0, right=1.0)


def current_cdf(sketch: NumericSketch) -> np.ndarray:
    """The current CDF (share of values < edge) at the plan's grid edges, exact from the fine counts."""
    nonnull = max(sketch.nonnull, 1)
    return np.cumsum(sketch.fine[:-1]) / nonnull


def numeric_comparison(ref: dict[str, Any], plan: ColumnPlan, sketch: NumericSketch) -> Comparison | None:
    """KS and normalised Wasserstein of a numeric sketch against its reference (None without values or grid)."""
    m = ref.get("count", 0) * (1 - ref.get("null_rate", 0.0))
    n = sketch.nonnull
    if not plan.cells or n == 0 or m <= 0:
        return None
    size = effective_size(n, m)
    ref_cdf, cur_cdf = reference_cdf(ref, plan), current_cdf(sketch)
    gap = np.abs(ref_cdf - cur_cdf)
    statistic = float(gap.max())
    wasserstein = float(np.sum(gap[:-1] + gap[1:]) * plan.width / 2)  # over the grid: the central 98 %
    std = ref.get("std") or 0.0
    distance = wasserstein / std if std > 0 else wasserstein
    if size <= P_VALUE_MAX_SIZE:
        p_value = kolmogorov_p_value(statistic, max(1, round(size)))
        drifted = p_value < P_VALUE and distance >= EFFECT_FLOOR
        return Comparison("ks", size, distance, statistic, p_value, drifted)
    p_value = kolmogorov_p_value(statistic, round(size))  # shown, not judged on
    return Comparison("wasserstein", size, distance, statistic, p_value, distance >= WASSERSTEIN_THRESHOLD)


def categorical_comparison(reference: np.ndarray, current: np.ndarray) -> Comparison | None:
    """Chi² (contingency) and Jensen-Shannon of current category counts against the reference's, same bins."""
    n, m = float(np.sum(current)), float(np.sum(reference))
    if n == 0 or m == 0:
        return None
    size = effective_size(n, m)
    distance = jensen_shannon(reference, current)
    statistic, p_value = chi_square_two_sample(reference, current)
    if size <= P_VALUE_MAX_SIZE:
        drifted = p_value is not None and p_value < P_VALUE and distance >= EFFECT_FLOOR
        return Comparison("chi2", size, distance, statistic, p_value, drifted)
    return Comparison("jensen-shannon", size, distance, statistic, p_value, distance >= JENSEN_SHANNON_THRESHOLD)
