"""The example training pipeline: load -> validate -> transforms -> fit -> evaluate -> log -> register.

    python -m pipelines.train [--variant 0|1] [--seed 42] [--data FILE] [--name breast-cancer]

``fit`` is the training entry point recorded on every run (``pipelines.train:fit``): ``mlgate
reproduce`` calls it with the recorded seed and params to rebuild the model and compare it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate import training
from mlgate.config import Settings
from mlgate.contracts import fast_validate, load_contract
from mlgate.exceptions import ContractError
from pipelines import data, features

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.api import Registration
    from mlgate.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "pipelines" / "contracts" / "breast_cancer.yaml"
CARD = ROOT / "pipelines" / "cards" / "breast_cancer.yaml"
TRANSFORM_TESTS = ROOT / "tests" / "test_pipeline_features.py"
MODEL_NAME = "breast-cancer"
DATASET_NAME = "breast-cancer-wisconsin"
EXPERIMENT = "breast-cancer"
ENTRY_POINT = "pipelines.train:fit"
# skops (MLflow's default format for scikit-learn) refuses types it cannot vet; these are this
# model's own trees, made by this pipeline, so they are trusted by name (see skops' security notes).
TRUSTED_TYPES = ["numpy.dtype", "sklearn.tree._tree.Tree"]


def apply_contract(source: pd.DataFrame, report: Any) -> pd.DataFrame:
    """The source rows the contract's policies keep (imputed where it says so); ContractError if the batch fails."""
    if not report.success:
        raise ContractError(
            f"the training data breaks contract {CONTRACT.name}: {report.problems()}",
            "fix the data, or the contract with a new version",
        )
    return report.model_input()


def fit_model(training_data: pd.DataFrame, seed: int, variant: int = 0) -> Any:
    """Fit the model (contract transforms + random forest) on a training frame of features + target."""
    model = features.build_model(load_contract(CONTRACT), random_state=seed, variant=variant)
    return model.fit(training_data[data.FEATURES], training_data[data.TARGET])


def fit(seed: int = 42, data_path: str = "", variant: int = 0) -> training.Fitted:
    """The training entry point: the same data preparation and fit as ``train``, without logging."""
    source = data.load_source(data_path or None)
    clean = apply_contract(source, fast_validate(load_contract(CONTRACT), source))
    training_data, evaluation_data = data.split(clean)
    model = fit_model(training_data, seed, variant)
    return training.Fitted(model, training_data, evaluation_data, data.TARGET)


@dataclass(frozen=True)
class TrainingOutcome:
    """What one pipeline run produced."""

    run_id: str
    model_uri: str
    metrics: dict[str, float]
    training_sha256: str
    registration: Registration | None = None


def train(
    target: Settings | Registry | None = None,
    *,
    seed: int = 42,
    variant: int = 0,
    data_path: str = "",
    register_as: str | None = None,
    run_tests: bool = True,
    experiment: str = EXPERIMENT,
) -> TrainingOutcome:
    """Run the whole pipeline on the configured (or given) registry; register the model if ``register_as``."""
    params = {"data_path": data_path, "variant": variant}
    with training.track(
        target,
        experiment=experiment,
        seed=seed,
        run_name=f"{MODEL_NAME}-variant{variant}",
        entry_point=ENTRY_POINT,
        params=params,
        tests=[TRANSFORM_TESTS] if run_tests else (),
        project_dir=ROOT,
    ) as run:
        source = data.load_source(data_path or None)
        clean = apply_contract(source, run.validate(source, CONTRACT))
        training_data, evaluation_data = data.split(clean)
        model = fit_model(training_data, run.random_state, variant)
        run.log_data(
            training_data,
            evaluation_data,
            target=data.TARGET,
            name=DATASET_NAME,
            task="classification",
            source=str(Path(data_path).resolve()) if data_path else None,
        )
        model_uri = run.log_model(model, skops_trusted_types=TRUSTED_TYPES)
        registration = run.register(register_as, CARD) if register_as else None
    return TrainingOutcome(run.run_id, model_uri, run.metrics, run.datasets["training"].sha256, registration)


def train_and_register(
    target: Settings | Registry | None = None, variant: int = 0, *, seed: int = 42, name: str = MODEL_NAME
) -> Registration:
    """Train one variant (0 or 1) and register it as a new candidate version of ``name`` (what the demo calls)."""
    outcome = train(target, seed=seed, variant=variant, register_as=name)
    assert outcome.registration is not None
    return outcome.registration


def main(argv: list[str] | None = None) -> int:
    """Command line: train, log and register one version on the configured registry."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.train", description=__doc__.splitlines()[0])
    parser.add_argument("--variant", type=int, default=0, choices=sorted(features.VARIANTS))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", default="", help="CSV or Parquet source (default: scikit-learn's copy)")
    parser.add_argument("--name", default=MODEL_NAME, help="registered model name")
    parser.add_argument("--no-tests", action="store_true", help="skip the feature-transform tests")
    args = parser.parse_args(argv)
    outcome = train(
        seed=args.seed, variant=args.variant, data_path=args.data, register_as=args.name, run_tests=not args.no_tests
    )
    assert outcome.registration is not None
    print(f"registered {args.name} v{outcome.registration.version} from run {outcome.run_id}: {outcome.metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
