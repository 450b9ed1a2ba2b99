"""Helpers shared by the serving and smoke tests: a module-wide registry with registered iris versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from mlgate import api
from mlgate.registry import Registry
from mlgate.testing import throwaway_settings, tiny_training_data, write_card

NAME = "iris"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def module_registry(folder: Path, template: tuple[Path, str], versions: int = 2, **overrides: object) -> Registry:
    """A private copy of the template store with ``versions`` registered versions of NAME; v1 is production."""
    source, uri = template
    store = folder / "store"
    store.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "mlflow.db", store / "mlflow.db")
    settings = throwaway_settings(store, artifact_root=str(store / "artifacts"), **overrides)
    registry = Registry.from_settings(settings)
    card = write_card(folder / "card.yaml")
    for _ in range(versions):
        api.register(NAME, uri, card, registry=registry)
    registry.set_alias(NAME, "production", "1")
    return registry


def rows(n: int = 3) -> pd.DataFrame:
    """The first ``n`` iris rows, as a client would send them."""
    x, _ = tiny_training_data()
    return x.head(n).reset_index(drop=True)


def split_body(frame: pd.DataFrame) -> dict[str, object]:
    return {"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}
