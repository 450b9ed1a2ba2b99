"""Mergeable column sketches: the counts drift and data-quality figures come from, in memory, streamed or on Spark.

A sketch of a column is fixed by a ``ColumnPlan`` drawn from the reference profile (and the data
contract), so sketches of chunks of one batch add up exactly (they are integer counts)::

    numeric:     rows, nulls, type_errors, counts over the reference's PSI bins (values < edge),
                 fine: counts over a fixed uniform grid across the reference's range, values
                 below and above it in the two end slots (the mergeable quantile sketch: the
                 current CDF at every grid point, exactly), out_low / out_high (contract
                 bounds), fractional (values that are not integers, for int columns)
    categorical: rows, nulls, counts {category key: n}

The fine grid has ``FINE_CELLS`` cells across the reference's 1st..99th percentiles (the profile
knows its 101 quantiles, so nothing finer of the outer tails); when the reference holds whole
numbers (most of its quantiles are integers: the rest fall between two tied runs), cell edges
sit on half-integers so that ties never straddle an edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.stats.drift import category_key

if TYPE_CHECKING:
    import pandas as pd

FINE_CELLS = 2048


@dataclass(frozen=True)
class ColumnPlan:
    """What to count for one column; the same for every chunk, worker and executor."""

    name: str
    kind: str  # "numeric" | "categorical"
    edges: tuple[float, ...] = ()  # the reference's PSI bin edges
    lo: float = 0.0  # the fine grid: cells of ``width`` from ``lo``; 0 cells when the reference had no values
    width: float = 1.0
    cells: int = 0
    low: float | None = None  # contract bounds (out-of-range counts)
    high: float | None = None
    integer: bool = False  # contract type int: count values that are not integers
    discrete: bool = False  # the reference holds whole numbers: the grid's edges sit on half-integers

    def grid(self) -> np.ndarray:
        """The fine grid's cells + 1 edges."""
        return self.lo + self.width * np.arange(self.cells + 1, dtype="float64")


def plan_column(name: str, ref: dict[str, Any] | None, spec: Any = None) -> ColumnPlan:
    """The plan of one column from its reference column profile (or None) and contract column (or None)."""
    numeric = ref["kind"] == "numeric" if ref is not None else bool(getattr(spec, "numeric", False))
    low, high = getattr(spec, "min", None), getattr(spec, "max", None)
    integer = getattr(spec, "type", None) == "int"
    if not numeric:
        return ColumnPlan(name, "categorical", low=low, high=high, integer=integer)
    quantiles = [float(q) for q in (ref or {}).get("quantiles") or []]
    edges = tuple(float(e) for e in (ref or {}).get("edges") or [])
    if not quantiles:
        return ColumnPlan(name, "numeric", edges, low=low, high=high, integer=integer)
    integral = sum(q.is_integer() for q in quantiles) >= 0.8 * len(quantiles)  # ties between whole numbers
    inner = quantiles[1:-1] or quantiles  # the 1st..99th percentiles: the profile knows no more of the tails
    first, last = inner[0], inner[-1]
    if integral and last - first < 1e9:
        first, last = math.floor(first), math.ceil(last)
        span = last - first + 1
        width = float(max(1, math.ceil(span / FINE_CELLS)))
        cells = math.ceil(span / width)
        return ColumnPlan(name, "numeric", edges, first - 0.5, width, cells, low, high, integer, discrete=True)
    if last <= first:
        return ColumnPlan(name, "numeric", edges, first - 0.5, 1.0, 1, low, high, integer, discrete=True)
    return ColumnPlan(name, "numeric", edges, first, (last - first) / FINE_CELLS, FINE_CELLS, low, high, integer)


@dataclass
class NumericSketch:
    """Counts of one numeric column (see the module docstring); ``+`` merges two."""

    rows: int
    nulls: int
    counts: np.ndarray
    fine: np.ndarray
    type_errors: int = 0
    out_low: int = 0
    out_high: int = 0
    fractional: int = 0
    kind: str = "numeric"

    @property
    def nonnull(self) -> int:
        return self.rows - self.nulls - self.type_errors

    def __add__(self, other: NumericSketch) -> NumericSketch:
        return NumericSketch(
            self.rows + other.rows, self.nulls + other.nulls, self.counts + other.counts, self.fine + other.fine,
            self.type_errors + other.type_errors,
            self.out_low + other.out_low, self.out_high + other.out_high, self.fractional + other.fractional,
        )  # fmt: skip


@dataclass
class CategoricalSketch:
    """Counts of one categorical column by category key; ``+`` merges two."""

    rows: int
    nulls: int
    counts: dict[str, int] = field(default_factory=dict)
    kind: str = "categorical"

    def __add__(self, other: CategoricalSketch) -> CategoricalSketch:
        merged = dict(self.counts)
        for key, n in other.counts.items():
            merged[key] = merged.get(key, 0) + n
        return CategoricalSketch(self.rows + other.rows, self.nulls + other.nulls, merged)


Sketch = NumericSketch | CategoricalSketch


def empty_sketch(plan: ColumnPlan) -> Sketch:
    """The sketch of no rows."""
    if plan.kind == "categorical":
        return CategoricalSketch(0, 0, {})
    return NumericSketch(0, 0, np.zeros(len(plan.edges) + 1, "int64"), np.zeros(plan.cells + 2, "int64"))


def sketch_values(plan: ColumnPlan, values: np.ndarray, type_errors: int = 0) -> NumericSketch:
    """The sketch of float ``values`` (NaN for nulls and for the ``type_errors`` values that were not numbers)."""
    rows = values.size
    nan = np.isnan(values)
    missing = int(np.count_nonzero(nan))
    nonnull = rows - missing
    below = [np.count_nonzero(values < e) for e in plan.edges]
    counts = np.diff(np.asarray([0, *below, nonnull], dtype="int64"))
    sketch = NumericSketch(rows, missing - type_errors, counts, np.zeros(plan.cells + 2, "int64"))
    sketch.type_errors = type_errors
    if plan.cells:
        scaled = np.subtract(values, plan.lo)
        scaled *= 1.0 / plan.width
        scaled += 1.0  # slot 0: below lo; 1..cells: the cells; cells + 1: at or above the grid's end
        np.clip(scaled, 0.0, plan.cells + 1.0, out=scaled)
        if missing:
            scaled[nan] = plan.cells + 2.0  # nulls go to a last slot that is dropped
        index = scaled.astype(np.intp)  # truncation is floor here: every value is >= 0
        sketch.fine = np.bincount(index, minlength=plan.cells + 3)[: plan.cells + 2].astype("int64")
    if plan.low is not None:
        sketch.out_low = int(np.count_nonzero(values < plan.low))
    if plan.high is not None:
        sketch.out_high = int(np.count_nonzero(values > plan.high))
    if plan.integer:
        sketch.fractional = int(np.count_nonzero(np.isfinite(values) & (values != np.floor(values))))
    return sketch


def sketch_series(plan: ColumnPlan, series: pd.Series) -> Sketch:
    """The sketch of a pandas column (numbers that are not numbers count as type errors)."""
    import pandas as pd

    if plan.kind == "categorical":
        counts = series.value_counts(dropna=True, sort=False)
        merged: dict[str, int] = {}
        for value, n in zip(counts.index.tolist(), counts.to_numpy().tolist(), strict=True):
            key = category_key(value)
            merged[key] = merged.get(key, 0) + int(n)
        return CategoricalSketch(len(series), len(series) - sum(merged.values()), merged)
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return sketch_values(plan, series.to_numpy(dtype="float64", na_value=np.nan))
    coerced = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    errors = max(0, int(np.count_nonzero(np.isnan(coerced))) - int(series.isna().sum()))
    return sketch_values(plan, coerced, errors)


def sketch_frame(plans: dict[str, ColumnPlan], frame: pd.DataFrame) -> dict[str, Sketch]:
    """Sketches of every planned column present in ``frame``."""
    return {name: sketch_series(plan, frame[name]) for name, plan in plans.items() if name in frame.columns}


def merge(total: dict[str, Sketch], part: dict[str, Sketch]) -> dict[str, Sketch]:
    """``total`` with ``part`` added, column by column (in place; returned for chaining)."""
    for name, sketch in part.items():
        total[name] = total[name] + sketch if name in total else sketch  # type: ignore[operator]
    return total
