"""Drift of current data against a reference profile: PSI on the reference's bins, KS and chi-square on request.

Every column is counted once, vectorised: numeric columns by comparing against the
reference's inner bin edges (no sort), categorical ones by a single value count. KS is
evaluated at the reference's 101 quantiles (so D is a lower bound of the exact statistic,
within one percentile of it), which keeps it free of a sort of the current data.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.monitor.profile import category_key

if TYPE_CHECKING:
    import pandas as pd

PSI_THRESHOLD = 0.2  # the usual reading: < 0.1 stable, 0.1-0.2 moderate, > 0.2 significant
P_VALUE = 0.01
OTHER = "(other)"
_EPS = 1e-4


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


def psi(reference: np.ndarray, current: np.ndarray, eps: float = _EPS) -> float:
    """Population stability index between two count (or share) vectors over the same bins."""
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    if ref.sum() <= 0 or cur.sum() <= 0:
        return 0.0
    p = np.clip(ref / ref.sum(), eps, None)
    q = np.clip(cur / cur.sum(), eps, None)
    return float(np.sum((q - p) * np.log(q / p)))


def numeric_counts(values: np.ndarray, edges: list[float]) -> tuple[np.ndarray, int]:
    """Counts of the non-null values in the bins (-inf, e0), [e0, e1), ..., [ek, inf); and the null count."""
    nonnull = values.size - int(np.count_nonzero(np.isnan(values)))
    below = np.fromiter((np.count_nonzero(values < e) for e in edges), dtype="int64", count=len(edges))
    counts = np.diff(np.concatenate(([0], below, [nonnull])))
    return counts, values.size - nonnull


def categorical_counts(series: pd.Series) -> tuple[dict[str, int], int]:
    """Counts of each non-null value (as its category key) and the null count, in one pass."""
    counts = series.value_counts(dropna=True, sort=False)
    merged: dict[str, int] = {}
    for value, n in zip(counts.index.tolist(), counts.to_numpy().tolist(), strict=True):
        key = category_key(value)
        merged[key] = merged.get(key, 0) + int(n)
    return merged, len(series) - int(sum(merged.values()))


def kolmogorov_p_value(statistic: float, n: float) -> float:
    """P(D >= statistic) for a two-sample KS test of effective size ``n`` (Stephens' asymptotic series)."""
    root = math.sqrt(n)
    lam = (root + 0.12 + 0.11 / root) * statistic
    if lam < 0.2:
        return 1.0
    total = sum(2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return min(1.0, max(0.0, total))


def _ks(ref: dict[str, Any], values: np.ndarray, nonnull: int) -> tuple[float | None, float | None]:
    quantiles = ref.get("quantiles") or []
    if not quantiles or nonnull == 0:
        return None, None
    q = np.asarray(quantiles)
    below = np.fromiter((np.count_nonzero(values <= x) for x in q), dtype="float64", count=q.size) / nonnull
    reference_cdf = np.asarray(ref.get("cdf") or np.linspace(0, 1, q.size))
    statistic = float(np.max(np.abs(below - reference_cdf)))
    m = ref["count"] * (1 - ref["null_rate"])
    n_eff = max(1, round(nonnull * m / (nonnull + m)))
    return statistic, kolmogorov_p_value(statistic, n_eff)


def _chi2(expected_share: np.ndarray, observed: np.ndarray) -> tuple[float | None, float | None]:
    total = observed.sum()
    if total == 0 or expected_share.size < 2:
        return None, None
    from scipy.special import chdtrc  # scipy.special imports in a fraction of scipy.stats' time

    expected = np.clip(expected_share, _EPS, None)
    expected = expected / expected.sum() * total
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, float(chdtrc(expected.size - 1, statistic))


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
            result.ks_statistic, result.ks_p_value = _ks(ref, values, total - nulls)
    else:
        current, nulls = categorical_counts(series)
        known = list(ref["frequencies"])
        ref_counts = np.asarray([ref["frequencies"][k] for k in known] + [ref.get("other", 0)], dtype="float64")
        cur = np.asarray([current.get(k, 0) for k in known] + [0], dtype="float64")
        unseen = {k: v for k, v in current.items() if k not in ref["frequencies"]}
        cur[-1] = sum(unseen.values())
        result = _result(name, ref, [*known, OTHER], ref_counts, cur, total, nulls, threshold)
        result.unseen = dict(sorted(unseen.items(), key=lambda kv: -kv[1])[:20]) if ref.get("other", 0) == 0 else {}
        if "chi2" in tests:
            result.chi2_statistic, result.chi2_p_value = _chi2(ref_counts / max(ref_counts.sum(), 1), cur)
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
