"""Distribution shift, defined once: the bins, PSI, and the two-sample tests and distances for analysis and monitoring.

Bins always come from the reference (expected) side. Numeric values fall in the reference's
deciles, open at both ends: (-inf, e0), [e0, e1), ..., [ek, inf). Categorical values fall in the
reference's categories plus one ``(other)`` bin for values it never saw. Shares of empty bins are
floored at 1e-4, so PSI stays finite. Counting is vectorised and never sorts the current data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.exceptions import MlgateError

if TYPE_CHECKING:
    import pandas as pd

PSI_THRESHOLD = 0.2  # the usual reading: < 0.1 stable, 0.1-0.2 moderate, > 0.2 significant
P_VALUE = 0.01  # a KS / chi-square p-value below it counts as drift
NUMERIC_BINS = 10
OTHER = "(other)"
EPS = 1e-4


# --- bins and counts -------------------------------------------------------------------------------------
def decile_edges(values: np.ndarray, bins: int = NUMERIC_BINS) -> np.ndarray:
    """The inner bin edges of finite reference ``values``: their ``bins``-quantiles, repeated edges merged."""
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))


def numeric_counts(values: np.ndarray, edges: Any) -> tuple[np.ndarray, int]:
    """Counts of the non-null values in the bins (-inf, e0), [e0, e1), ..., [ek, inf); and the null count."""
    nonnull = values.size - int(np.count_nonzero(np.isnan(values)))
    below = np.fromiter((np.count_nonzero(values < e) for e in edges), dtype="int64", count=len(edges))
    counts = np.diff(np.concatenate(([0], below, [nonnull])))
    return counts, values.size - nonnull


def category_key(value: Any) -> str:
    """The string under which a category value is counted (JSON keys are strings; 1.0 and 1 are one class)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def categorical_counts(series: pd.Series) -> tuple[dict[str, int], int]:
    """Counts of each non-null value (as its category key) and the null count, in one pass."""
    counts = series.value_counts(dropna=True, sort=False)
    merged: dict[str, int] = {}
    for value, n in zip(counts.index.tolist(), counts.to_numpy().tolist(), strict=True):
        key = category_key(value)
        merged[key] = merged.get(key, 0) + int(n)
    return merged, len(series) - int(sum(merged.values()))


def category_bins(
    reference: Mapping[str, float], current: Mapping[str, int], reference_other: float = 0
) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, int]]:
    """Labels, reference counts and current counts over the reference's categories plus ``(other)``;
    and the current categories the reference never saw (all counted in ``(other)``)."""
    known = list(reference)
    ref_counts = np.asarray([reference[k] for k in known] + [reference_other], dtype="float64")
    cur_counts = np.asarray([current.get(k, 0) for k in known] + [0], dtype="float64")
    unseen = {k: v for k, v in current.items() if k not in reference}
    cur_counts[-1] = sum(unseen.values())
    return [*known, OTHER], ref_counts, cur_counts, unseen


# --- PSI -------------------------------------------------------------------------------------------------
def psi(reference: Any, current: Any, eps: float = EPS) -> float:
    """Population stability index between two count (or share) vectors over the same bins (0.0 if one is empty)."""
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    if ref.sum() <= 0 or cur.sum() <= 0:
        return 0.0
    p = np.clip(ref / ref.sum(), eps, None)
    q = np.clip(cur / cur.sum(), eps, None)
    return float(np.sum((q - p) * np.log(q / p)))


def _numbers(values: Any) -> np.ndarray | None:
    """The values as floats (None dropped), or None when some are not numbers (labels, lists)."""
    import pandas as pd

    series = values.dropna() if isinstance(values, pd.Series) else pd.Series(values).dropna()
    if series.dtype.kind in "fiub":
        return series.to_numpy(dtype=float)
    try:
        return series.astype(float).to_numpy()
    except (TypeError, ValueError):
        return None


def sample_psi(expected: Any, actual: Any, bins: int = NUMERIC_BINS) -> float:
    """PSI of the sample ``actual`` against the sample ``expected``, on the bins of ``expected``.

    Numbers with more than ``2 * bins`` distinct values are binned on the deciles of ``expected``;
    fewer distinct numbers, and anything that is not a number (class labels), count as categories.
    Raises MlgateError when either side holds no value.
    """
    import pandas as pd

    exp, act = _numbers(expected), _numbers(actual)
    if exp is not None and act is not None:
        if exp.size == 0 or act.size == 0:
            raise MlgateError("PSI needs values on both sides", "wait for traffic on both routes")
        if np.unique(exp).size > 2 * bins:
            edges = decile_edges(exp, bins)
            return psi(numeric_counts(exp, edges)[0], numeric_counts(act, edges)[0])
        keys_e, keys_a = pd.Series(exp), pd.Series(act)
    else:
        keys_e = pd.Series(list(expected)).dropna().astype(str)
        keys_a = pd.Series(list(actual)).dropna().astype(str)
    if keys_e.empty or keys_a.empty:
        raise MlgateError("PSI needs values on both sides", "wait for traffic on both routes")
    _labels, ref_counts, cur_counts, _unseen = category_bins(
        categorical_counts(keys_e)[0], categorical_counts(keys_a)[0]
    )
    return psi(ref_counts, cur_counts)


# --- tests -----------------------------------------------------------------------------------------------
def kolmogorov_p_value(statistic: float, n: float) -> float:
    """P(D >= statistic) for a two-sample KS test of effective size ``n`` (Stephens' asymptotic series)."""
    root = math.sqrt(n)
    lam = (root + 0.12 + 0.11 / root) * statistic
    if lam < 0.2:
        return 1.0
    total = sum(2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return min(1.0, max(0.0, total))


# --- two-sample figures (the reference is a sample too) ------------------------------------------------
P_VALUE_MAX_SIZE = 1_000  # effective size n·m/(n+m) above which a p-value flags differences nobody cares about
WASSERSTEIN_THRESHOLD = 0.1  # Wasserstein-1 distance in reference standard deviations (Evidently's default)
JENSEN_SHANNON_THRESHOLD = 0.1  # Jensen-Shannon distance, natural log (Evidently's default)
EFFECT_FLOOR = 0.1  # a smaller distance is never drift, however small its p-value: the same bar as above the switch


def effective_size(n: float, m: float) -> float:
    """n·m/(n+m): the size of a two-sample comparison of samples of n and m values (0 if either is empty)."""
    return n * m / (n + m) if n > 0 and m > 0 else 0.0


def chi_square_two_sample(reference: Any, current: Any) -> tuple[float | None, float | None]:
    """Chi-square statistic and p-value of the 2 x k contingency table of two count vectors over the same bins.

    Unlike a goodness-of-fit test against the reference's shares, the reference's own sampling
    noise is part of the expected counts. Bins empty on both sides are left out.
    """
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    keep = (ref + cur) > 0
    ref, cur = ref[keep], cur[keep]
    r_total, c_total = ref.sum(), cur.sum()
    if r_total <= 0 or c_total <= 0 or ref.size < 2:
        return None, None
    from scipy.special import chdtrc

    both = ref + cur
    total = r_total + c_total
    e_ref, e_cur = both * (r_total / total), both * (c_total / total)
    statistic = float(np.sum((ref - e_ref) ** 2 / e_ref) + np.sum((cur - e_cur) ** 2 / e_cur))
    return statistic, float(chdtrc(ref.size - 1, statistic))


def jensen_shannon(reference: Any, current: Any) -> float:
    """Jensen-Shannon distance (square root of the divergence, natural log) of two count vectors (0..0.83)."""
    p = np.asarray(reference, dtype="float64")
    q = np.asarray(current, dtype="float64")
    if p.sum() <= 0 or q.sum() <= 0:
        return 0.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2))
