"""The inference-time validator: the contract's checks in vectorised pandas/numpy, same verdicts as the GX path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlgate.contracts.checks import (
    Check,
    CheckResult,
    dtype_matches,
    is_object,
    plan,
    sample_values,
    typed_values,
    value_types,
)
from mlgate.contracts.model import Contract
from mlgate.contracts.report import ValidationReport, apply_policies


def fast_validate(contract: Contract, df: pd.DataFrame) -> ValidationReport:
    """Validate ``df`` against ``contract`` without Great Expectations and apply the contract's policies."""
    checks = plan(contract, df)
    results = run_checks(contract, df, checks)
    return apply_policies(contract, df, results, engine="fast")


def run_checks(contract: Contract, df: pd.DataFrame, checks: list[Check]) -> list[CheckResult]:
    """Evaluate each check on ``df``; row checks return the positions of their bad rows."""
    n = len(df)
    type_bad: dict[str, np.ndarray] = {}
    results: list[CheckResult] = []
    columns = {name: df[name] for name in {c.column for c in checks} if name in df.columns}
    for check in checks:
        name = check.column
        if check.kind == "row_count":
            results.append(CheckResult(check, n >= 1, 0, [], observed=str(n)))
        elif check.kind == "columns":
            ok = set(map(str, df.columns)) == set(check.kwargs["column_set"])
            results.append(CheckResult(check, ok, 0 if ok else n, []))
        elif check.kind == "missing_column":
            ok = name in columns
            results.append(CheckResult(check, ok, 0 if ok else n, []))
        elif check.kind == "null":
            mask = columns[name].isna().to_numpy()
            results.append(_rows(check, mask, columns[name]))
        elif check.kind == "column_type":
            dtype = columns[name].dtype
            ok = dtype_matches(contract.column(str(name)), dtype)
            results.append(CheckResult(check, ok, 0 if ok else n, [], observed=_dtype_name(dtype)))
        elif check.kind == "type":
            types = value_types(contract.column(str(name)).type)
            good = np.fromiter((isinstance(v, types) for v in columns[name].to_numpy()), bool, n)
            mask = ~good & columns[name].notna().to_numpy()
            type_bad[str(name)] = mask
            results.append(_rows(check, mask, columns[name]))
        else:
            series = columns[name]
            if is_object(series.dtype):
                series = typed_values(contract.column(str(name)), series, type_bad.get(str(name)))
            mask = _range_bad(series, check) if check.kind == "range" else _not_allowed(series, check)
            results.append(_rows(check, mask, series))
    return results


def _rows(check: Check, mask: np.ndarray, source: pd.Series) -> CheckResult:
    positions = np.flatnonzero(mask)
    if not len(positions):
        return CheckResult(check, True, 0, [], mask)
    if check.kind == "null":
        sample: list[Any] = [None] * min(5, len(positions))
    else:
        sample = sample_values(source.iloc[positions[:5]].to_numpy(), np.arange(min(5, len(positions))))
    return CheckResult(check, not len(positions), len(positions), sample, mask)


def _numeric(series: pd.Series) -> np.ndarray:
    if isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    return series.to_numpy()


def _range_bad(series: pd.Series, check: Check) -> np.ndarray:
    values = _numeric(series)
    lo, hi = check.kwargs.get("min_value"), check.kwargs.get("max_value")
    with np.errstate(invalid="ignore"):
        mask = np.zeros(len(values), dtype=bool)
        if lo is not None:
            mask |= values < lo
        if hi is not None:
            mask |= values > hi
    return mask


def _not_allowed(series: pd.Series, check: Check) -> np.ndarray:
    allowed = check.kwargs["value_set"]
    arrow = getattr(series.array, "_pa_array", None)
    if arrow is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        inside = pc.is_in(arrow, value_set=pa.array(allowed, type=arrow.type))
        return np.asarray(pc.invert(pc.or_kleene(inside, pc.is_null(arrow))), dtype=bool)
    return ~series.isin(allowed).to_numpy() & series.notna().to_numpy()


def _dtype_name(dtype: Any) -> str:
    return getattr(getattr(dtype, "type", None), "__name__", str(dtype))
