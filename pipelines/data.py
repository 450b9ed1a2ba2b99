"""Load the example's source data (scikit-learn's breast-cancer set, or a file), derive grades, split it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

ID = "sample_id"
TARGET = "malignant"
NUMERIC = [
    "mean_radius",
    "mean_texture",
    "mean_smoothness",
    "mean_compactness",
    "mean_concavity",
    "mean_concave_points",
    "mean_symmetry",
    "worst_radius",
    "worst_texture",
    "worst_concave_points",
]
CATEGORICAL = ["size_band", "shape_irregularity"]
FEATURES = NUMERIC + CATEGORICAL
EVALUATION_PERCENT = 25
BUILTIN = "sklearn.datasets.load_breast_cancer"


def builtin_source() -> pd.DataFrame:
    """The source table from scikit-learn (no download): id, measurements, derived grades, target."""
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer(as_frame=True)
    frame = raw.data.rename(columns=lambda c: c.replace(" ", "_"))
    out = frame[NUMERIC].copy()
    out["size_band"] = pd.cut(frame["mean_area"], [0, 500, 1000, np.inf], labels=["small", "medium", "large"])
    out["size_band"] = out["size_band"].astype(str)
    out["shape_irregularity"] = pd.cut(
        frame["worst_concavity"], [-np.inf, 0.15, 0.4, np.inf], right=False, labels=["regular", "moderate", "irregular"]
    ).astype(str)
    out[TARGET] = (raw.target == 0).astype("int64")  # sklearn codes malignant as 0
    out.insert(0, ID, np.arange(len(out), dtype="int64"))
    return out


def load_source(path: str | Path | None = None) -> pd.DataFrame:
    """The source table: scikit-learn's copy by default, or a CSV / Parquet file with the same columns."""
    if not path:
        return builtin_source()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training data {path} does not exist")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype={c: "str" for c in CATEGORICAL})
    missing = sorted({ID, TARGET, *FEATURES} - set(frame.columns))
    if missing:
        raise ValueError(f"{path} lacks column(s) {', '.join(missing)}")
    return frame[[ID, *FEATURES, TARGET]]


def in_evaluation(ids: pd.Series) -> np.ndarray:
    """Whether each row belongs to the evaluation set: a stable hash of its id, not a random draw.

    The split does not move when rows are added or the seed changes, so the seed only affects the model.
    """
    buckets = [int(hashlib.sha256(str(i).encode()).hexdigest()[:8], 16) % 100 for i in ids]
    return np.array(buckets) < EVALUATION_PERCENT


def split(source: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training, evaluation) frames of features + target, without the id, in source order."""
    mask = in_evaluation(source[ID])
    columns = [*FEATURES, TARGET]
    training = source.loc[~mask, columns].reset_index(drop=True)
    evaluation = source.loc[mask, columns].reset_index(drop=True)
    return training, evaluation
