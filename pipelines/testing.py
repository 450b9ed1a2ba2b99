"""Test helpers for the example pipeline: one trained and registered version per test session, from a CSV copy."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mlgate.config import Settings
from mlgate.testing import throwaway_settings
from pipelines import data, train


@dataclass(frozen=True)
class TrainedExample:
    """The registry, the data file and the outcome of one run of the example pipeline."""

    settings: Settings
    source: Path
    outcome: train.TrainingOutcome
    folder: Path

    @property
    def version(self) -> str:
        assert self.outcome.registration is not None
        return self.outcome.registration.version


_TRAINED: dict[Path, TrainedExample] = {}


def trained_example(base: Path, name: str = train.MODEL_NAME) -> TrainedExample:
    """Train and register the example once per ``base`` folder (a test session's temp root) and reuse it.

    The registry has the project's release policy; the data is a CSV copy of scikit-learn's set,
    so tests can change or remove it.
    """
    if base not in _TRAINED:
        folder = base / "trained-example"
        config = folder / "mlflow_config"
        config.mkdir(parents=True)
        shutil.copy(train.ROOT / "mlflow_config" / "policy.yaml", config / "policy.yaml")
        source = folder / "breast_cancer.csv"
        data.builtin_source().to_csv(source, index=False)
        settings = throwaway_settings(folder / "store", config_dir=config)
        outcome = train.train(settings, data_path=str(source), register_as=name)
        _TRAINED[base] = TrainedExample(settings, source, outcome, folder)
    return _TRAINED[base]
