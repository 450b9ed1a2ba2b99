"""Drift of current data against a reference profile, per column: PSI on the reference's bins, KS and chi-square.

The figures themselves (bins, counts, PSI, the tests) are mlgate.stats.drift's, shared with
canary analysis; this module applies them to every profiled column and shapes the result for
reports and alert rules.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.stats.drift import (
    P_VALUE,
    PSI_THRESHOLD,
    categorical_counts,
    category_bins,
    chi_square,
    ks_test,
    numeric_counts,
    psi,
)

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
    total = len(series)
    if ref["kind"] == "numeric":
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        counts, nulls = numeric_counts(values, ref["edges"])
        ref_counts = np.asarray(ref["counts"], dtype="float64")
        edges = ref["edges"]
        labels = (
            [f"< {edges[0]:.4g}"] + [f"[{a:.4g}, {b:.4g})" for a, b in itertools.pairwise(edges)]
            + [f">= {edges[-1]:.4g}"] if edges else ["all"]
        )  # fmt: skip
        result = _result(name, ref, labels, ref_counts, counts, total, nulls, threshold)
        if "ks" in tests:
            result.ks_statistic, result.ks_p_value = ks_test(ref, values)
    else:
        current, nulls = categorical_counts(series)
        categories, ref_counts, cur, unseen = category_bins(ref["frequencies"], current, ref.get("other", 0))
        result = _result(name, ref, categories, ref_counts, cur, total, nulls, threshold)
        result.unseen = dict(sorted(unseen.items(), key=lambda kv: -kv[1])[:20]) if ref.get("other", 0) == 0 else {}
        if "chi2" in tests:
            result.chi2_statistic, result.chi2_p_value = chi_square(ref_counts / max(ref_counts.sum(), 1), cur)
    if tests and not result.drifted:
        p_values = [p for p in (result.ks_p_value, result.chi2_p_value) if p is not None]
        result.drifted = any(p < P_VALUE for p in p_values)
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


def drift(
    profile: dict[str, Any],
    features: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    tests: tuple[str, ...] = (),
    psi_threshold: float = PSI_THRESHOLD,
) -> DriftResult:
    """Drift of every profiled feature found in ``features`` (and of ``predictions``) against ``profile``.

    ``tests`` may hold "ks" (numeric) and "chi2" (categorical): a column then also drifts when
    the test's p-value is below 0.01.
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
