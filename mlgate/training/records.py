"""What a training run records besides the model: its datasets, the card's training data, evaluation metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.config.files import read_yaml
from mlgate.exceptions import CardError
from mlgate.registry.card import ModelCard, parse_card
from mlgate.stats.metrics import CLASSIFICATION, REGRESSION, compute

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Fitted:
    """What a training entry point returns: the fitted model and the exact data it was trained on.

    ``mlgate reproduce`` calls the entry point, compares the digest of ``training_data`` with the
    recorded one, then compares the model's predictions on the recorded evaluation set.
    """

    model: Any
    training_data: pd.DataFrame
    evaluation_data: pd.DataFrame | None = None
    target: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset logged on the run: its context, name, full sha256 and shape."""

    context: str
    name: str
    sha256: str
    rows: int
    columns: int


def infer_task(target: pd.Series) -> str:
    """classification for text, bool, integer or few-valued targets; regression otherwise."""
    import pandas as pd

    if pd.api.types.is_float_dtype(target.dtype) and target.nunique(dropna=True) > 20:
        return "regression"
    return "classification"


def card_with_training_data(card: str | Path | Mapping[str, Any], training: DatasetRecord) -> ModelCard:
    """The model card with ``training_data`` set to the run's training set (name and full sha256).

    A card that already names training data must name the same data.
    """
    source = "<card>" if isinstance(card, Mapping) else str(card)
    data = dict(card) if isinstance(card, Mapping) else read_yaml(card, error=CardError)
    stated = data.get("training_data") or {}
    problems = []
    if isinstance(stated, dict):
        if stated.get("sha256") and str(stated["sha256"]).lower() != training.sha256:
            problems.append(
                f"training_data.sha256 {stated['sha256']} is not the data this run trained on ({training.sha256}); "
                "leave it out: it is filled in from the run"
            )
        if stated.get("name") and stated["name"] != training.name:
            problems.append(f"training_data.name {stated['name']!r} differs from the logged data {training.name!r}")
    if problems:
        raise CardError(source, problems)
    data["training_data"] = {"name": training.name, "sha256": training.sha256}
    return parse_card(data, source)


def evaluation_metrics(model: Any, features: pd.DataFrame, target: pd.Series, task: str) -> dict[str, float]:
    """accuracy, f1 and roc_auc for classification; rmse, mae and r2 for regression (mlgate.stats.metrics).

    The names and formulas are the gate's: a policy naming one of them compares against this value.
    """
    predicted = model.predict(features)
    if task == REGRESSION:
        return compute(REGRESSION, target, predicted, names=("rmse", "mae", "r2"))
    proba = model.predict_proba(features) if hasattr(model, "predict_proba") else None
    return compute(CLASSIFICATION, target, predicted, proba, names=("accuracy", "f1", "roc_auc"))
