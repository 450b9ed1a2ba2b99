"""Data-quality anomalies against the data contract: null rate, out-of-range, unseen categories, type errors, volume.

Without a contract the reference profile stands in: nulls are judged against the
reference null rate and categories against the reference's categories.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlgate.stats.drift import category_key
from mlgate.stats.sketch import ColumnPlan, NumericSketch, Sketch, plan_column, sketch_frame, sketch_series

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


def check_column(
    series: pd.Series, spec: Any, ref: dict[str, Any] | None, drift_unseen: dict[str, int]
) -> ColumnQuality:
    """Quality of one column against its contract column ``spec`` (or None) and reference profile ``ref``."""
    name = series.name if isinstance(series.name, str) else str(series.name)
    plan = plan_column(name, ref, spec)
    return sketch_quality(name, sketch_series(plan, series), spec, ref, drift_unseen)


def sketch_quality(
    name: str, sketch: Sketch, spec: Any, ref: dict[str, Any] | None, drift_unseen: dict[str, int]
) -> ColumnQuality:
    """Quality of one column's (merged) sketch; its plan carried the contract's bounds and int type."""
    rows = sketch.rows
    result = ColumnQuality(name, rows, 0.0)
    if rows == 0:
        return result
    nulls = sketch.nulls
    if isinstance(sketch, NumericSketch):
        low, high = getattr(spec, "min", None), getattr(spec, "max", None)
        out, type_errors = sketch.out_low + sketch.out_high, sketch.type_errors
        result.out_of_range_rate = out / rows
        result.type_error_rate = type_errors / rows
        if out:
            result.anomalies.append(f"{out} value(s) ({out / rows:.2%}) outside [{low}, {high}]")
        if type_errors:
            result.anomalies.append(f"{type_errors} value(s) ({type_errors / rows:.2%}) are not numbers")
        if sketch.fractional:
            result.type_error_rate += sketch.fractional / rows
            result.anomalies.append(f"{sketch.fractional} value(s) are not integers")
    else:
        allowed = getattr(spec, "allowed", None)
        if allowed is not None:
            keys = {category_key(a) for a in allowed}
            unseen = {k: v for k, v in sketch.counts.items() if k not in keys}
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


def quality_plans(profile: dict[str, Any] | None, contract: Any = None) -> dict[str, ColumnPlan]:
    """The sketch plan of every column the quality checks look at (contract columns, else profiled ones)."""
    refs = (profile or {}).get("features", {})
    specs = {c.name: c for c in contract.columns} if contract is not None else {}
    return {name: plan_column(name, refs.get(name), specs.get(name)) for name in (list(specs) or list(refs))}


def sketches_quality(
    rows: int,
    sketches: dict[str, Sketch],
    profile: dict[str, Any] | None = None,
    contract: Any = None,
    expected_rows: float | None = None,
    drift_result: DriftResult | None = None,
) -> QualityResult:
    """Data-quality anomalies of (merged) column sketches made with ``quality_plans`` (a streamed pass)."""
    refs = (profile or {}).get("features", {})
    specs = {c.name: c for c in contract.columns} if contract is not None else {}
    names = list(specs) or list(refs)
    columns = {}
    for name in names:
        if name not in sketches:
            continue
        unseen = drift_result.features[name].unseen if drift_result and name in drift_result.features else {}
        columns[name] = sketch_quality(name, sketches[name], specs.get(name), refs.get(name), unseen)
    missing = [n for n in names if n not in sketches]
    label = f"{contract.name}@{contract.version}" if contract is not None and hasattr(contract, "name") else None
    return QualityResult(rows, expected_rows, columns, missing, label)


def check_quality(
    features: pd.DataFrame,
    profile: dict[str, Any] | None = None,
    contract: Any = None,
    expected_rows: float | None = None,
    drift_result: DriftResult | None = None,
) -> QualityResult:
    """Data-quality anomalies of ``features`` against ``contract`` (duck-typed: ``.columns`` of specs
    with name, type, nullable, min, max, allowed) and the reference ``profile``."""
    sketches = sketch_frame(quality_plans(profile, contract), features)
    return sketches_quality(len(features), sketches, profile, contract, expected_rows, drift_result)
