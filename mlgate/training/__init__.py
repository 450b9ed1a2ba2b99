"""Training: the reproducible training record (``track``), its provenance, and ``reproduce``.

    from mlgate import training

    with training.track(experiment="churn", seed=42, entry_point="pipelines.train:fit") as run:
        ...

The provenance helpers are re-exported: ``mlgate.training`` is the one import a notebook needs.
"""

from __future__ import annotations

from mlgate.stats.digest import dataset_sha256, file_sha256
from mlgate.training.provenance import (
    DEFAULT_REQUIREMENTS,
    PytestRun,
    TestResults,
    capture_environment,
    code_revision,
    fixed_seeds,
    installed_packages,
    parse_junit,
    pip_requirements,
    resolve_entry_point,
    run_pytest,
    uncommitted_changes,
)
from mlgate.training.records import (
    DatasetRecord,
    Fitted,
    card_with_training_data,
    evaluation_metrics,
    infer_task,
)
from mlgate.training.tracking import (
    TrainingRun,
    track,
)

__all__ = [
    "DEFAULT_REQUIREMENTS",
    "DatasetRecord",
    "Fitted",
    "PytestRun",
    "TestResults",
    "TrainingRun",
    "capture_environment",
    "card_with_training_data",
    "code_revision",
    "dataset_sha256",
    "evaluation_metrics",
    "file_sha256",
    "fixed_seeds",
    "infer_task",
    "installed_packages",
    "parse_junit",
    "pip_requirements",
    "resolve_entry_point",
    "run_pytest",
    "track",
    "uncommitted_changes",
]
