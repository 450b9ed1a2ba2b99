"""Drift of current data against a reference profile, per column: PSI on the reference's bins and size-aware tests.

Every column is first reduced to a mergeable sketch (mlgate.stats.sketch), so an in-memory
frame, a streamed batch and a Spark table reach the same verdict by the same code. The figures
(bins, PSI, the two-sample tests and distances, the size at which p-values give way to
distances) are mlgate.stats's; this module applies them to every profiled column and shapes the
result for reports and alert rules.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.stats.drift import PSI_THRESHOLD, category_bins, psi
from mlgate.stats.sketch import ColumnPlan, NumericSketch, Sketch, plan_column, sketch_series
from mlgate.stats.twosample import categorical_comparison, numeric_comparison

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ColumnDrift:
    """Drift of one column: PSI, optional KS / chi-square, and the two distributions for plots."""

    name: str
    kind: str
    psi: float
    drifted: bool
    labels: list[str]
    reference_share: list[float]
    current_share: list[float]
    count: int
    null_rate: float
    reference_null_rate: float
    ks_statistic: float | None = None
    ks_p_value: float | None = None
    chi2_statistic: float | None = None
    chi2_p_value: float | None = None
    unseen: dict[str, int] = field(default_factory=dict)  # categorical values the reference never saw
    method: str = "psi"  # what the verdict rests on at this size: "psi", or "psi + ks|wasserstein|chi2|jensen-shannon"
    test: str | None = None  # the size-aware test's figures, in words
    distance: float | None = None  # normalised Wasserstein (numeric) or Jensen-Shannon distance (categorical)
    effective_size: float | None = None  # n·m/(n+m) of the two-sample comparison

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DriftResult:
    """Drift of every profiled column present in the data, and of the predictions."""

    features: dict[str, ColumnDrift]
    prediction: dict[str, ColumnDrift]
    psi_threshold: float
    tests: tuple[str, ...]

    @property
    def drifted(self) -> list[str]:
        return [n for n, c in self.features.items() if c.drifted]

    @property
    def max_psi(self) -> float:
        return max((c.psi for c in self.features.values()), default=0.0)

    @property
    def prediction_psi(self) -> float:
        return max((c.psi for c in self.prediction.values()), default=0.0)

    def signals(self) -> dict[str, float | None]:
        """Flat signals for alert rules: drift.max_psi, drift.drifted_share, drift.prediction_psi, drift.psi.<col>.

        drift.prediction_psi is None (no data, never fires) when the data holds no predictions.
        """
        out: dict[str, float | None] = {
            "drift.max_psi": self.max_psi,
            "drift.drifted_count": float(len(self.drifted)),
            "drift.drifted_share": len(self.drifted) / len(self.features) if self.features else 0.0,
            "drift.prediction_psi": self.prediction_psi if self.prediction else None,
        }
        out.update({f"drift.psi.{n}": c.psi for n, c in self.features.items()})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "psi_threshold": self.psi_threshold,
            "tests": list(self.tests),
            "drifted": self.drifted,
            "max_psi": self.max_psi,
            "prediction_psi": self.prediction_psi,
            "features": {n: c.to_dict() for n, c in self.features.items()},
            "prediction": {n: c.to_dict() for n, c in self.prediction.items()},
        }


def column_drift(
    name: str, ref: dict[str, Any], series: pd.Series, tests: tuple[str, ...] = (), threshold: float = PSI_THRESHOLD
) -> ColumnDrift:
    """Drift of one column against its reference profile."""
    plan = plan_column(name, ref)
    return sketch_drift(name, ref, plan, sketch_series(plan, series), tests, threshold)


def sketch_drift(
    name: str,
    ref: dict[str, Any],
    plan: ColumnPlan,
    sketch: Sketch,
    tests: tuple[str, ...] = (),
    threshold: float = PSI_THRESHOLD,
) -> ColumnDrift:
    """Drift of one column's (merged) sketch against its reference profile: PSI, and the size-aware test."""
    missing = sketch.rows - sketch.nonnull if isinstance(sketch, NumericSketch) else sketch.nulls
    comparison = None
    if isinstance(sketch, NumericSketch):
        edges = list(plan.edges)
        labels = (
            [f"< {edges[0]:.4g}"] + [f"[{a:.4g}, {b:.4g})" for a, b in itertools.pairwise(edges)]
            + [f">= {edges[-1]:.4g}"] if edges else ["all"]
        )  # fmt: skip
        ref_counts = np.asarray(ref["counts"], dtype="float64")
        result = _result(name, ref, labels, ref_counts, sketch.counts, sketch.rows, missing, threshold)
        if "ks" in tests:
            comparison = numeric_comparison(ref, plan, sketch)
            if comparison is not None:
                result.ks_statistic, result.ks_p_value = comparison.statistic, comparison.p_value
    else:
        categories, ref_counts, cur, unseen = category_bins(ref["frequencies"], sketch.counts, ref.get("other", 0))
        result = _result(name, ref, categories, ref_counts, cur, sketch.rows, missing, threshold)
        result.unseen = dict(sorted(unseen.items(), key=lambda kv: -kv[1])[:20]) if ref.get("other", 0) == 0 else {}
        if "chi2" in tests:
            comparison = categorical_comparison(ref_counts, cur)
            if comparison is not None:
                result.chi2_statistic, result.chi2_p_value = comparison.statistic, comparison.p_value
    if comparison is not None:
        result.method = f"psi + {comparison.method}"
        result.test = comparison.describe()
        result.distance = comparison.distance
        result.effective_size = comparison.effective_size
        result.drifted = result.drifted or comparison.drifted
    return result


def _result(
    name: str,
    ref: dict[str, Any],
    labels: list[str],
    ref_counts: np.ndarray,
    counts: np.ndarray,
    total: int,
    nulls: int,
    threshold: float,
) -> ColumnDrift:
    value = psi(ref_counts, counts)
    ref_total = max(float(ref_counts.sum()), 1.0)
    cur_total = max(float(np.sum(counts)), 1.0)
    return ColumnDrift(
        name=name,
        kind=ref["kind"],
        psi=value if math.isfinite(value) else 0.0,
        drifted=value >= threshold,
        labels=labels,
        reference_share=[float(c) / ref_total for c in ref_counts],
        current_share=[float(c) / cur_total for c in counts],
        count=total,
        null_rate=nulls / total if total else 0.0,
        reference_null_rate=float(ref.get("null_rate", 0.0)),
    )


def drift_plans(profile: dict[str, Any], section: str = "features") -> dict[str, ColumnPlan]:
    """The sketch plan of every column of one section ("features" or "prediction") of a profile."""
    return {name: plan_column(name, ref) for name, ref in profile.get(section, {}).items()}


def sketches_drift(
    profile: dict[str, Any],
    features: dict[str, Sketch],
    predictions: dict[str, Sketch] | None = None,
    tests: tuple[str, ...] = (),
    psi_threshold: float = PSI_THRESHOLD,
    plans: dict[str, ColumnPlan] | None = None,
) -> DriftResult:
    """Drift of (merged) column sketches against ``profile``: what a streamed or Spark pass ends with."""
    plans = plans or {}

    def one(section: str, sketches: dict[str, Sketch]) -> dict[str, ColumnDrift]:
        return {
            name: sketch_drift(name, ref, plans.get(name) or plan_column(name, ref), sketches[name], tests,
                               psi_threshold)
            for name, ref in profile.get(section, {}).items()
            if name in sketches and sketches[name].rows
        }  # fmt: skip

    return DriftResult(one("features", features), one("prediction", predictions or {}), psi_threshold, tuple(tests))


def drift(
    profile: dict[str, Any],
    features: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    tests: tuple[str, ...] = (),
    psi_threshold: float = PSI_THRESHOLD,
) -> DriftResult:
    """Drift of every profiled feature found in ``features`` (and of ``predictions``) against ``profile``.

    ``tests`` may hold "ks" (numeric) and "chi2" (categorical): a column then also drifts on the
    size-aware two-sample comparison (mlgate.stats.twosample): the test's p-value below 0.01 with
    an effect above the floor up to an effective size of 1,000, a distance (Wasserstein in
    reference standard deviations, Jensen-Shannon) of 0.1 or more above it.
    """
    feats = {
        name: column_drift(name, ref, features[name], tests, psi_threshold)
        for name, ref in profile.get("features", {}).items()
        if name in features.columns and len(features)
    }
    preds = {}
    if predictions is not None and len(predictions):
        preds = {
            name: column_drift(name, ref, predictions[name], tests, psi_threshold)
            for name, ref in profile.get("prediction", {}).items()
            if name in predictions.columns
        }
    return DriftResult(feats, preds, psi_threshold, tuple(tests))
