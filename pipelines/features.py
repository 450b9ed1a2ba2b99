"""The example's feature transforms, built from its data contract so training and serving agree.

Null handling follows the contract: a column whose ``on_null`` policy imputes a value is imputed
with that value here too (so a null that reaches the model behaves like the contract says);
other numeric nulls get the training median, other categorical nulls an "unknown" level that
the one-hot encoder ignores. Categories come from the contract's ``allowed`` values, so a value
absent from the training data still has its column, and an unseen one encodes as all zeros.
Output columns have a fixed order (the contract's), whatever the input's column order. Only
scikit-learn classes are used, so the logged model loads without this project's code.
"""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlgate.contracts import Column, Contract

UNKNOWN = "__unknown__"
VARIANTS: dict[int, dict[str, Any]] = {
    0: {"n_estimators": 60, "max_depth": 4},
    1: {"n_estimators": 120, "max_depth": 6},
}


def column_transform(column: Column) -> Pipeline:
    """The transform of one contract column: impute per its null policy, then scale or one-hot encode."""
    imputed = column.on_null.action == "impute" and not column.nullable
    if column.numeric:
        imputer = (
            SimpleImputer(strategy="constant", fill_value=float(column.on_null.value))
            if imputed
            else SimpleImputer(strategy="median")
        )
        return Pipeline([("impute", imputer), ("scale", StandardScaler())])
    fill = str(column.on_null.value) if imputed else UNKNOWN
    categories: Any = [list(column.allowed)] if column.allowed else "auto"
    return Pipeline(
        [
            # text nulls arrive as NaN (pandas str columns) or None (JSON records): impute both
            ("impute", SimpleImputer(strategy="constant", fill_value=fill)),
            ("impute_none", SimpleImputer(missing_values=None, strategy="constant", fill_value=fill)),
            ("encode", OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False)),
        ]
    )


def build_transform(contract: Contract) -> ColumnTransformer:
    """One transform per contract column, selected by name; other input columns are dropped."""
    return ColumnTransformer(
        [(column.name, column_transform(column), [column.name]) for column in contract.columns],
        remainder="drop",
        verbose_feature_names_out=False,
    )


def build_model(contract: Contract, random_state: int, variant: int = 0) -> Pipeline:
    """The whole model: the contract's transforms and a random forest seeded with ``random_state``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant} (known: {', '.join(map(str, VARIANTS))})")
    forest = RandomForestClassifier(random_state=random_state, n_jobs=1, **VARIANTS[variant])
    return Pipeline([("features", build_transform(contract)), ("classifier", forest)])
