"""The reference profile logged at training: per-column distributions, null rates and row count.

A profile is a JSON-serialisable dict::

    {"format": 1, "created_at": ISO, "row_count": N,
     "features":   {column: ColumnProfile, ...},
     "prediction": {column: ColumnProfile, ...}}      # "prediction" for a 1-D output

    numeric:     {"kind": "numeric", "count", "null_rate", "edges": [inner bin edges],
                  "counts": [len(edges) + 1], "quantiles": [101 points],
                  "cdf": [share of values <= each quantile], "min", "max", "mean", "std"}
    categorical: {"kind": "categorical", "count", "null_rate",
                  "frequencies": {value: count}, "other": count beyond the top categories}

Numeric bins are the reference's deciles (open at both ends, see mlgate.stats.drift), so PSI is
computed on the reference's own bins; the 101 quantiles and the reference CDF at them (exact,
ties included) serve a KS test.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.registry import keys
from mlgate.stats.drift import NUMERIC_BINS, category_key, decile_edges, numeric_counts

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.registry import Registry

FORMAT = 1
TOP_CATEGORIES = 50
PREDICTION = "prediction"


def column_kind(series: pd.Series, is_prediction: bool = False) -> str:
    """``numeric`` or ``categorical``: numbers are numeric, except integer predictions with few values."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        return "categorical"
    if is_prediction and pd.api.types.is_integer_dtype(series.dtype) and series.nunique(dropna=True) <= 20:
        return "categorical"
    return "numeric"


def profile_column(series: pd.Series, kind: str, bins: int = NUMERIC_BINS, top: int = TOP_CATEGORIES) -> dict[str, Any]:
    """The profile of one column (see the module docstring)."""
    total = len(series)
    if kind == "numeric":
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        finite = values[~np.isnan(values)]
        nulls = total - int(finite.size)
        out: dict[str, Any] = {"kind": "numeric", "count": total, "null_rate": nulls / total if total else 0.0}
        if finite.size == 0:
            out.update(edges=[], counts=[0], quantiles=[], min=None, max=None, mean=None, std=None)
            return out
        quantiles = np.quantile(finite, np.linspace(0, 1, 101))
        inner = decile_edges(finite, bins)
        counts, _nulls = numeric_counts(finite, inner)
        out.update(
            edges=[float(e) for e in inner],
            counts=[int(c) for c in counts],
            quantiles=[float(q) for q in quantiles],
            cdf=[float(c) for c in np.searchsorted(np.sort(finite), quantiles, side="right") / finite.size],
            min=float(finite.min()),
            max=float(finite.max()),
            mean=float(finite.mean()),
            std=float(finite.std()),
        )
        return out
    merged: dict[str, int] = {}
    raw = series.value_counts(dropna=True)  # count first, then name the (few) distinct values
    for value, n in zip(raw.index.tolist(), raw.to_numpy().tolist(), strict=True):
        key = category_key(value)
        merged[key] = merged.get(key, 0) + int(n)
    import pandas as pd

    counts_by_value = pd.Series(merged, dtype="int64").sort_values(ascending=False, kind="stable")
    kept = counts_by_value.iloc[:top]
    present = int(counts_by_value.sum())
    return {
        "kind": "categorical",
        "count": total,
        "null_rate": (total - present) / total if total else 0.0,
        "frequencies": {str(k): int(v) for k, v in kept.items()},
        "other": int(counts_by_value.iloc[top:].sum()),
    }


def prediction_frame(predictions: Any) -> pd.DataFrame:
    """Predictions (list, array, Series or DataFrame) as a frame with the profile's prediction column names."""
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return predictions if predictions.shape[1] != 1 else predictions.set_axis([PREDICTION], axis=1)
    if isinstance(predictions, pd.Series):
        return predictions.to_frame(PREDICTION)
    array = np.asarray(predictions)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        return pd.DataFrame({PREDICTION: array})
    return pd.DataFrame(array, columns=[f"{PREDICTION}_{i}" for i in range(array.shape[1])])


def build_profile(features: pd.DataFrame, predictions: Any = None) -> dict[str, Any]:
    """The reference profile of training (or evaluation) features and the model's predictions on them.

    ``predictions`` may be a list, array (1-D or 2-D), Series or DataFrame, or None.
    """
    result: dict[str, Any] = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "row_count": len(features),
        "features": {str(c): profile_column(features[c], column_kind(features[c])) for c in features.columns},
        "prediction": {},
    }
    if predictions is not None:
        frame = prediction_frame(predictions)
        result["prediction"] = {
            str(c): profile_column(frame[c], column_kind(frame[c], is_prediction=True)) for c in frame.columns
        }
    return result


def save_profile(profile: dict[str, Any], path: str | Path) -> Path:
    """Write a profile as JSON; returns the path."""
    path = Path(path)
    path.write_text(json.dumps(profile, indent=1, sort_keys=True))
    return path


def log_profile(registry: Registry, name: str, version: str, profile: dict[str, Any]) -> str:
    """Attach a profile to a registered version (under keys.REFERENCE_PROFILE_ARTIFACT)."""
    with tempfile.TemporaryDirectory(prefix="mlgate-profile-") as tmp:
        local = save_profile(profile, Path(tmp) / Path(keys.REFERENCE_PROFILE_ARTIFACT).name)
        return registry.log_version_artifact(name, str(version), local, keys.ARTIFACT_DIR)


def load_profile(registry: Registry, name: str, version: str | int) -> dict[str, Any] | None:
    """The reference profile logged with a version, or None when it has none."""
    run_id = registry.record_run_id(name, str(version))
    if keys.REFERENCE_PROFILE_ARTIFACT not in registry.list_run_artifacts(run_id, keys.ARTIFACT_DIR):
        return None
    with tempfile.TemporaryDirectory(prefix="mlgate-profile-") as tmp:
        local = registry.download_version_artifact(name, str(version), keys.REFERENCE_PROFILE_ARTIFACT, tmp)
        data: dict[str, Any] = json.loads(local.read_text())
    return data
