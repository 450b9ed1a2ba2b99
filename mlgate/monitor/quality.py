"""Data-quality anomalies against the data contract: null rate, out-of-range, unseen categories, type errors, volume.

Without a contract the reference profile stands in: nulls are judged against the
reference null rate and categories against the reference's categories.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.stats.drift import category_key

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.monitor.drift import DriftResult

NULL_RATE_TOLERANCE = 0.05  # a nullable column is anomalous when its null rate exceeds the reference's by this
RATE_TOLERANCE = 0.0  # any out-of-range, unseen or mistyped value in a column is reported
VOLUME_DROP = 0.5  # fewer than half the expected rows is a volume anomaly


@dataclass
class ColumnQuality:
    """Quality figures of one column and the anomalies found in it."""

    name: str
    rows: int
    null_rate: float
    out_of_range_rate: float = 0.0
    unseen_rate: float = 0.0
    type_error_rate: float = 0.0
    unseen_values: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)


@dataclass
class QualityResult:
    """Data-quality anomalies of one window or batch."""

    rows: int
    expected_rows: float | None
    columns: dict[str, ColumnQuality]
    missing_columns: list[str]
    contract: str | None

    @property
    def volume_drop(self) -> float:
        if not self.expected_rows:
            return 0.0
        return max(0.0, 1.0 - self.rows / self.expected_rows)

    @property
    def anomalies(self) -> list[str]:
        found = [f"{c.name}: {a}" for c in self.columns.values() for a in c.anomalies]
        found += [f"{name}: missing from the data" for name in self.missing_columns]
        if self.volume_drop >= VOLUME_DROP:
            found.append(
                f"volume: {self.rows} rows, {self.volume_drop:.0%} below the expected {self.expected_rows:.0f}"
            )
        return found

    def signals(self) -> dict[str, float]:
        """Flat signals for alert rules (quality.*)."""
        cols = list(self.columns.values())

        def worst(attr: str) -> float:
            return max((getattr(c, attr) for c in cols), default=0.0)

        return {
            "quality.anomalies": float(len(self.anomalies)),
            "quality.null_rate.max": worst("null_rate"),
            "quality.out_of_range_rate.max": worst("out_of_range_rate"),
            "quality.unseen_rate.max": worst("unseen_rate"),
            "quality.type_error_rate.max": worst("type_error_rate"),
            "quality.missing_columns": float(len(self.missing_columns)),
            "quality.volume_drop": self.volume_drop,
            "quality.rows": float(self.rows),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "expected_rows": self.expected_rows,
            "volume_drop": self.volume_drop,
            "contract": self.contract,
            "missing_columns": self.missing_columns,
            "anomalies": self.anomalies,
            "columns": {n: asdict(c) for n, c in self.columns.items()},
        }


def _numeric_values(series: pd.Series) -> tuple[np.ndarray, int]:
    """Float values of a column and how many non-null values are not numbers (type errors)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan), 0
    coerced = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    type_errors = int(np.count_nonzero(np.isnan(coerced))) - int(series.isna().sum())
    return coerced, max(type_errors, 0)


def check_column(
    series: pd.Series, spec: Any, ref: dict[str, Any] | None, drift_unseen: dict[str, int]
) -> ColumnQuality:
    """Quality of one column against its contract column ``spec`` (or None) and reference profile ``ref``."""
    rows = len(series)
    numeric = spec.numeric if spec is not None else (ref or {}).get("kind") == "numeric"
    result = ColumnQuality(series.name if isinstance(series.name, str) else str(series.name), rows, 0.0)
    if rows == 0:
        return result
    if numeric:
        values, type_errors = _numeric_values(series)
        nulls = int(np.count_nonzero(np.isnan(values))) - type_errors
        low = getattr(spec, "min", None)
        high = getattr(spec, "max", None)
        out = (int(np.count_nonzero(values < low)) if low is not None else 0) + (
            int(np.count_nonzero(values > high)) if high is not None else 0
        )
        result.out_of_range_rate = out / rows
        result.type_error_rate = type_errors / rows
        if out:
            result.anomalies.append(f"{out} value(s) ({out / rows:.2%}) outside [{low}, {high}]")
        if type_errors:
            result.anomalies.append(f"{type_errors} value(s) ({type_errors / rows:.2%}) are not numbers")
        if spec is not None and spec.type == "int":
            fractional = int(np.count_nonzero(np.isfinite(values) & (values != np.floor(values))))
            if fractional:
                result.type_error_rate += fractional / rows
                result.anomalies.append(f"{fractional} value(s) are not integers")
    else:
        nulls = int(series.isna().sum())
        allowed = getattr(spec, "allowed", None)
        if allowed is not None:
            keys = {category_key(a) for a in allowed}
            counts = series.value_counts(dropna=True)
            unseen = {category_key(k): int(v) for k, v in counts.items() if category_key(k) not in keys}
        else:
            unseen = drift_unseen
        n_unseen = sum(unseen.values())
        result.unseen_rate = n_unseen / rows
        result.unseen_values = sorted(unseen, key=lambda k: -unseen[k])[:10]
        if n_unseen:
            shown = ", ".join(result.unseen_values[:5])
            result.anomalies.append(f"{n_unseen} value(s) ({n_unseen / rows:.2%}) in unseen categories: {shown}")
    result.null_rate = nulls / rows
    if spec is not None and not spec.nullable and nulls:
        result.anomalies.append(f"{nulls} null(s) ({result.null_rate:.2%}) in a non-nullable column")
    elif ref is not None and result.null_rate > ref.get("null_rate", 0.0) + NULL_RATE_TOLERANCE:
        result.anomalies.append(f"null rate {result.null_rate:.2%} vs {ref['null_rate']:.2%} at training")
    return result


def check_quality(
    features: pd.DataFrame,
    profile: dict[str, Any] | None = None,
    contract: Any = None,
    expected_rows: float | None = None,
    drift_result: DriftResult | None = None,
) -> QualityResult:
    """Data-quality anomalies of ``features`` against ``contract`` (duck-typed: ``.columns`` of specs
    with name, type, nullable, min, max, allowed) and the reference ``profile``."""
    refs = (profile or {}).get("features", {})
    specs = {c.name: c for c in contract.columns} if contract is not None else {}
    names = list(specs) or list(refs)
    columns = {}
    for name in names:
        if name not in features.columns:
            continue
        unseen = drift_result.features[name].unseen if drift_result and name in drift_result.features else {}
        columns[name] = check_column(features[name], specs.get(name), refs.get(name), unseen)
    missing = [n for n in names if n not in features.columns]
    label = f"{contract.name}@{contract.version}" if contract is not None and hasattr(contract, "name") else None
    return QualityResult(len(features), expected_rows, columns, missing, label)
