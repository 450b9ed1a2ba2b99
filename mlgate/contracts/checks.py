"""The checks a contract asks of one DataFrame, shared by the GX and fast paths so their verdicts agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlgate.contracts.model import Column, Contract

# GX expectation names: the fast path reports under the same names as the Great Expectations path.
ROW_COUNT = "expect_table_row_count_to_be_between"
COLUMN_SET = "expect_table_columns_to_match_set"
EXISTS = "expect_column_to_exist"
NOT_NULL = "expect_column_values_to_not_be_null"
IN_TYPE_LIST = "expect_column_values_to_be_in_type_list"
OF_TYPE = "expect_column_values_to_be_of_type"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"

_INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
_INT_EXT = ["Int8Dtype", "Int16Dtype", "Int32Dtype", "Int64Dtype", "UInt8Dtype", "UInt16Dtype", "UInt32Dtype"]
_INT_EXT += ["UInt64Dtype"]
# What each contract type accepts, in GX's words (numpy dtype names, pandas dtype classes, python types).
TYPE_LISTS: dict[str, list[str]] = {
    "float": ["float16", "float32", "float64", *_INTS, "Float32Dtype", "Float64Dtype", *_INT_EXT, "float", "int"],
    "int": [*_INTS, *_INT_EXT, "int"],
}
SINGLE_TYPES = {"str": "str", "bool": "bool"}  # checked with ExpectColumnValuesToBeOfType

# Kinds of check whose failure is about the whole batch, not some rows.
BATCH_KINDS = ("row_count", "columns", "missing_column", "column_type")


@dataclass(frozen=True)
class Check:
    """One expectation of the suite: its GX name, the column, what kind of problem it finds, its arguments."""

    expectation: str
    kind: str  # row_count | columns | missing_column | column_type | null | type | range | allowed
    column: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def row_level(self) -> bool:
        return self.kind not in BATCH_KINDS


@dataclass
class CheckResult:
    """The outcome of one check: how many rows broke it, sample bad values, and (row checks) which rows."""

    check: Check
    success: bool
    bad_rows: int
    sample: list[Any]
    mask: np.ndarray | None = None  # positions of bad rows, when known
    observed: str = ""  # e.g. the observed dtype of a column, or an error text


def value_types(type_: str) -> tuple[type, ...]:
    """The Python/numpy types a single value may have, resolved the way GX's pandas map metrics do."""
    names = TYPE_LISTS.get(type_) or [SINGLE_TYPES[type_]]
    types: list[type] = []
    for name in names:
        try:
            types.append(np.dtype(name).type)
        except TypeError:
            for holder in (pd, pd.core.dtypes.dtypes):
                candidate = getattr(holder, name, None)
                if isinstance(candidate, type):
                    types.append(candidate)
        native = {"float": float, "int": int, "str": str, "bool": bool}.get(name)
        if native is not None:
            types.append(native)
    return tuple(types)


def dtype_matches(column: Column, dtype: Any) -> bool:
    """Whether a typed (non-object) column dtype satisfies the contract type, as GX judges it."""
    if column.type == "str":
        return dtype.type is str
    if column.type == "bool":
        return dtype.type is np.bool_
    kinds = "iuf" if column.type == "float" else "iu"
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return isinstance(dtype, pd.core.arrays.masked.BaseMaskedDtype) and dtype.kind in kinds
    return dtype.kind in kinds and dtype.itemsize <= 8


def is_object(dtype: Any) -> bool:
    return not isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind == "O"


def plan(contract: Contract, df: pd.DataFrame) -> list[Check]:
    """The ordered checks that apply to ``df``: value checks only for present columns of a usable type."""
    dtypes = dict(zip(df.columns, df.dtypes, strict=True))
    checks = [Check(ROW_COUNT, "row_count", kwargs={"min_value": 1})]
    if contract.extra_columns == "reject":
        checks.append(Check(COLUMN_SET, "columns", kwargs={"column_set": contract.column_names, "exact_match": True}))
    for column in contract.columns:
        checks.append(Check(EXISTS, "missing_column", column.name))
        if column.name not in dtypes:
            continue
        if not column.nullable:
            checks.append(Check(NOT_NULL, "null", column.name))
        dtype = dtypes[column.name]
        per_row = is_object(dtype)
        kind = "type" if per_row else "column_type"
        if column.type in TYPE_LISTS:
            checks.append(Check(IN_TYPE_LIST, kind, column.name, {"type_list": TYPE_LISTS[column.type]}))
        else:
            checks.append(Check(OF_TYPE, kind, column.name, {"type_": SINGLE_TYPES[column.type]}))
        if not per_row and not dtype_matches(column, dtype):
            continue  # the column is of the wrong type: its values cannot be compared
        if column.min is not None or column.max is not None:
            checks.append(Check(BETWEEN, "range", column.name, {"min_value": column.min, "max_value": column.max}))
        if column.allowed is not None:
            checks.append(Check(IN_SET, "allowed", column.name, {"value_set": list(column.allowed)}))
    return checks


def typed_values(column: Column, series: pd.Series, type_bad: np.ndarray | None) -> pd.Series:
    """An object column with its wrong-type values blanked, converted to the contract type for value checks."""
    cleaned = series.where(~type_bad) if type_bad is not None and type_bad.any() else series
    if column.numeric:
        return pd.to_numeric(cleaned, errors="coerce")
    if column.type == "str":
        return cleaned.astype("str")
    return cleaned.astype("boolean")


def sample_values(values: Any, positions: np.ndarray, limit: int = 5) -> list[Any]:
    """Up to ``limit`` bad values as plain Python values (None for nulls)."""
    picked = values[positions[:limit]] if len(positions) else []
    return [plain_value(v) for v in picked]


def plain_value(value: Any) -> Any:
    """A value as plain Python for reports and JSON (None for every kind of null)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return str(value)
    return value
