"""Fixtures users and pipelines can reuse: a throwaway registry, a tiny logged model, a valid card."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from mlgate import api
from mlgate.config import Settings
from mlgate.registry import Registry, mlflow_uris

# What a test process sets so nothing reaches the internet and MLflow prints no progress bars.
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def throwaway_settings(folder: str | Path, **overrides: Any) -> Settings:
    """Settings for a fresh sqlite registry and artifact folder inside ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base: dict[str, Any] = {
        "tracking_uri": f"sqlite:///{folder / 'mlflow.db'}",
        "registry_uri": f"sqlite:///{folder / 'mlflow.db'}",
        "artifact_root": str(folder / "artifacts"),
        "actor": "tester",
        "lock_wait_seconds": 10.0,
    }
    base.update(overrides)
    return Settings(**base)


def throwaway_registry(folder: str | Path, **overrides: Any) -> Registry:
    """A Registry on a fresh sqlite store inside ``folder``."""
    return Registry.from_settings(throwaway_settings(folder, **overrides))


def tiny_training_data(seed: int = 0) -> tuple[Any, Any]:
    """A small numeric classification data set (features, labels) made from scikit-learn's iris."""
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    x = data.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    return x, data.target


def log_tiny_model(
    settings: Settings, seed: int = 0, experiment: str = "mlgate-tests", max_iter: int = 200, model: Any = None
) -> str:
    """Train and log a tiny scikit-learn classifier with signature and input example; return its URI.

    ``model``: a scikit-learn model fitted on ``tiny_training_data`` to log instead.
    """
    import mlflow
    from sklearn.linear_model import LogisticRegression

    x, y = tiny_training_data(seed)
    if model is None:
        model = LogisticRegression(max_iter=max_iter, random_state=seed).fit(x, y)
    with mlflow_uris(settings):
        if mlflow.get_experiment_by_name(experiment) is None:
            location = f"{settings.artifact_root}/{experiment}" if settings.artifact_root else None
            mlflow.create_experiment(experiment, artifact_location=location)
        mlflow.set_experiment(experiment)
        with mlflow.start_run():
            mlflow.log_param("seed", seed)
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=x.head(3),
                pip_requirements=[f"scikit-learn=={_version('scikit-learn')}", f"pandas=={_version('pandas')}"],
                serialization_format="cloudpickle",
            )
    return str(info.model_uri)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def card_dict(**overrides: Any) -> dict[str, Any]:
    """A complete, valid model card as a dict; override any field."""
    x, _ = tiny_training_data()
    digest = hashlib.sha256(x.to_csv(index=False).encode()).hexdigest()
    card: dict[str, Any] = {
        "owner": "ml-platform@example.com",
        "intended_use": "Demo classification of iris flowers; not for any real decision.",
        "description": "Logistic regression on the four iris measurements.",
        "training_data": {"name": "sklearn-iris", "sha256": digest},
        "limitations": "Trained on 150 rows.",
        "on_call": "ml-oncall",
        "data_migrations": [],
    }
    card.update(overrides)
    return card


def write_card(path: str | Path, **overrides: Any) -> Path:
    """Write a valid model card YAML file (with overrides) and return its path."""
    path = Path(path)
    path.write_text(yaml.safe_dump(card_dict(**overrides), sort_keys=False))
    return path


def registry_with_versions(folder: str | Path, name: str, count: int = 2) -> Registry:
    """A throwaway registry holding ``count`` candidate versions of the tiny model, each with a card."""

    folder = Path(folder)
    registry = throwaway_registry(folder)
    uri = log_tiny_model(registry.settings)
    card = write_card(folder / "card.yaml")
    for _ in range(count):
        api.register(name, uri, card, registry=registry)
    return registry
