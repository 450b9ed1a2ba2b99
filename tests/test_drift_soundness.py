"""Drift tests stay sound at any size: false alarms <= 1 % per column from 1,000 to 1,000,000 rows, real drift caught.

Every seed draws a fresh 10,000-row reference (its own sampling noise is part of the test) and
current samples of 1,000, 10,000, 100,000 and 1,000,000 rows from the same distributions: a
normal column and a skewed one with nulls, an integer (Poisson) column full of ties, and two
categorical columns with nulls. The verdict is the monitoring verdict with the tests on (PSI, and
KS / chi² at small effective sizes, Wasserstein / Jensen-Shannon above).

Speed: verdicts are computed from column sketches (counts), as every pass does. References and
1,000-row samples are drawn row by row and sketched; from 10,000 rows on the sketch is drawn
directly: the counts of n i.i.d. values over the cells cut by every bin and grid edge are
multinomial with the distribution's cell probabilities, and the null count is binomial: the
same distribution of sketches as sketching n drawn rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlgate.monitor.drift import sketch_drift
from mlgate.stats.profile import build_profile
from mlgate.stats.sketch import CategoricalSketch, ColumnPlan, NumericSketch, plan_column, sketch_series

SIZES = (1_000, 10_000, 100_000, 1_000_000)
REFERENCE_ROWS = 10_000
TESTS = ("ks", "chi2")
LEVELS_3 = np.array(["red", "green", "blue"])
LEVELS_8 = np.array([f"level_{k}" for k in range(8)])


@dataclass
class Column:
    """One column's population: a scipy distribution (numeric) or category shares, and a null rate."""

    dist: Any = None
    discrete: bool = False
    levels: np.ndarray | None = None
    shares: np.ndarray | None = None
    null_rate: float = 0.0

    def below(self, x: np.ndarray) -> np.ndarray:
        """P(value < x)."""
        return self.dist.cdf(np.ceil(x) - 1) if self.discrete else self.dist.cdf(x)

    def rows(self, rng: np.random.Generator, n: int) -> pd.Series:
        if self.levels is not None:
            values = self.levels[rng.choice(self.levels.size, n, p=self.shares)].astype(object)
            values[rng.random(n) < self.null_rate] = None
            return pd.Series(values, dtype="object")
        drawn = self.dist.rvs(size=n, random_state=rng).astype("float64")
        drawn[rng.random(n) < self.null_rate] = np.nan
        return pd.Series(drawn)


@functools.cache
def population(kind: str = "same") -> dict[str, Column]:
    """The five columns; ``kind`` plants one drift: shift, scale or reversed."""
    weights8 = np.linspace(1.0, 2.0, 8) / np.linspace(1.0, 2.0, 8).sum()
    shares3 = np.array([0.5, 0.3, 0.2])
    normal = {"shift": stats.norm(55, 10), "scale": stats.norm(50, 15)}.get(kind, stats.norm(50, 10))
    skewed_shift = 0.5 * stats.lognorm(0.6).std() if kind == "shift" else 0.0
    return {
        "normal": Column(normal, null_rate=0.03),
        "skewed": Column(stats.lognorm(0.6, loc=skewed_shift), null_rate=0.01),
        "count": Column(stats.poisson(4, loc=1 if kind == "shift" else 0), discrete=True, null_rate=0.02),
        "colour": Column(levels=LEVELS_3, shares=shares3[::-1] if kind == "reversed" else shares3, null_rate=0.02),
        "level": Column(levels=LEVELS_8, shares=weights8[::-1] if kind == "reversed" else weights8),
    }


def binned_sketch(plan: ColumnPlan, column: Column, n: int, rng: np.random.Generator) -> Any:
    """The sketch of n rows drawn from ``column``, drawn as counts (see the module docstring)."""
    nulls = int(rng.binomial(n, column.null_rate))
    k = n - nulls
    if column.levels is not None:
        counts = rng.multinomial(k, column.shares)
        return CategoricalSketch(n, nulls, {str(v): int(c) for v, c in zip(column.levels, counts, strict=True) if c})
    grid = plan.grid()
    points = np.unique(np.concatenate([np.asarray(plan.edges, dtype="float64"), grid]))
    probs = np.diff(np.concatenate([[0.0], column.below(points), [1.0]])).clip(0, None)
    lt = np.cumsum(rng.multinomial(k, probs / probs.sum()))[:-1]  # lt[j]: values < points[j]

    def at(xs: np.ndarray) -> np.ndarray:
        return lt[np.searchsorted(points, xs)]

    psi_counts = np.diff(np.concatenate([[0], at(np.asarray(plan.edges, dtype="float64")), [k]]))
    fine = np.diff(np.concatenate([[0], at(grid), [k]]))
    return NumericSketch(n, nulls, psi_counts.astype("int64"), fine.astype("int64"))


def verdicts(seed: int, kind: str = "same") -> dict[int, dict[str, tuple[bool, str]]]:
    """{size: {column: (drifted, method)}} for one seed: a fresh reference, then one sample per size."""
    rng = np.random.default_rng(seed)
    same, current = population(), population(kind)
    profile = build_profile(pd.DataFrame({name: col.rows(rng, REFERENCE_ROWS) for name, col in same.items()}))
    refs = profile["features"]
    plans = {name: plan_column(name, ref) for name, ref in refs.items()}
    out: dict[int, dict[str, tuple[bool, str]]] = {}
    for size in SIZES:
        out[size] = {}
        for name, column in current.items():
            if size <= 1_000:
                sketch = sketch_series(plans[name], column.rows(rng, size))
            else:
                sketch = binned_sketch(plans[name], column, size, rng)
            result = sketch_drift(name, refs[name], plans[name], sketch, TESTS)
            out[size][name] = (result.drifted, result.method)
    return out


def rates(seeds: range, kind: str, pick: Callable[[str], bool]) -> dict[int, dict[str, float]]:
    alarms: dict[int, dict[str, int]] = {}
    methods: dict[int, dict[str, set[str]]] = {}
    for seed in seeds:
        for size, columns in verdicts(seed, kind).items():
            for name, (drifted, method) in columns.items():
                if pick(name):
                    alarms.setdefault(size, {}).setdefault(name, 0)
                    alarms[size][name] += drifted
                    methods.setdefault(size, {}).setdefault(name, set()).add(method)
    print(f"{kind}: methods by size {methods}")
    return {size: {n: a / len(seeds) for n, a in cols.items()} for size, cols in alarms.items()}


def test_false_alarm_rate_is_at_most_one_percent_per_column_at_every_size() -> None:
    found = rates(range(200), "same", lambda _name: True)
    for size, columns in found.items():
        print(f"false alarms at {size:>9,} rows: " + ", ".join(f"{n} {r:.1%}" for n, r in columns.items()))
    assert set(found) == set(SIZES)
    assert all(rate <= 0.01 for columns in found.values() for rate in columns.values()), found


@pytest.mark.parametrize(
    ("kind", "columns"),
    [("shift", {"normal", "skewed", "count"}), ("scale", {"normal"}), ("reversed", {"colour", "level"})],
)
def test_real_drift_is_caught_at_every_size(kind: str, columns: set[str]) -> None:
    found = rates(range(1_000, 1_020), kind, lambda name: name in columns)
    for size, by_column in found.items():
        print(f"{kind} caught at {size:>9,} rows: " + ", ".join(f"{n} {r:.0%}" for n, r in by_column.items()))
    assert all(rate == 1.0 for by_column in found.values() for rate in by_column.values()), found


def test_the_method_follows_the_effective_size() -> None:
    by_size = verdicts(7)
    assert {m for _d, m in by_size[1_000].values()} == {"psi + ks", "psi + chi2"}
    for size in SIZES[1:]:
        assert {m for _d, m in by_size[size].values()} == {"psi + wasserstein", "psi + jensen-shannon"}
