"""Reproducible training records: one context manager that fixes seeds and logs what a rebuild needs.

    from mlgate import training

    with training.track(experiment="churn", seed=42, entry_point="pipelines.train:fit",
                        tests=["tests/test_features.py"]) as run:
        model = build_model(random_state=run.random_state).fit(x_train, y_train)
        run.log_data(train_df, eval_df, target="churned", name="churn-2024q4", contract="contract.yaml")
        run.log_model(model)                      # pinned requirements, signature, metrics, profile
        registration = run.register("churn", card="card.yaml")

What lands on the MLflow run (names in mlgate.keys): the seed param, the environment (exact
package versions, Python, platform), full-content sha256 digests of the training and evaluation
data, the contract validation, the evaluation set, the JUnit XML of the transform tests, the git
revision (``-dirty`` with a diff when the tree has changes), the reference profile for drift, and
the training entry point ``module:function`` that ``mlgate reproduce`` calls as
``function(seed=seed, **params)`` to get a :class:`Fitted` back. The digests, environment, code
revision and test results themselves are computed by ``mlgate.provenance`` (re-exported here).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.config import Settings, load_settings
from mlgate.contracts import load_contract, validate
from mlgate.exceptions import ContractError, TrainingError
from mlgate.registry import Registry, keys, mlflow_uris
from mlgate.release.register import Registration
from mlgate.release.register import register as register_version
from mlgate.training import writer
from mlgate.training.provenance import (
    DEFAULT_REQUIREMENTS,
    PytestRun,
    TestResults,
    capture_environment,
    code_revision,
    fixed_seeds,
    pip_requirements,
    resolve_entry_point,
    uncommitted_changes,
)
from mlgate.training.records import (
    DatasetRecord,
    card_with_training_data,
    evaluation_metrics,
    infer_task,
)

if TYPE_CHECKING:
    import pandas as pd


# --- the tracked run --------------------------------------------------------------------------------------
class TrainingRun:
    """The MLflow run of one training, with the records mlgate's gate and ``reproduce`` read.

    Made by :func:`track`; use ``random_state`` for scikit-learn estimators and splitters.
    """

    def __init__(self, settings: Settings, run_id: str, seed: int, rng: np.random.Generator, project_dir: Path):
        self.settings = settings
        self.run_id = run_id
        self.seed = seed
        self.rng = rng
        self.project_dir = project_dir
        self.environment: dict[str, Any] = {}
        self.datasets: dict[str, DatasetRecord] = {}
        self.training_data: pd.DataFrame | None = None
        self.evaluation_data: pd.DataFrame | None = None
        self.target: str | None = None
        self.task: str | None = None
        self.contract_path: Path | None = None
        self.contract_report: Any = None
        self.tests: TestResults | None = None
        self.metrics: dict[str, float] = {}
        self.model_uri: str | None = None
        self._pending_tests: PytestRun | None = None

    @property
    def random_state(self) -> int:
        """The seed, to pass as ``random_state=`` to scikit-learn."""
        return self.seed

    # datasets -------------------------------------------------------------------------------------
    def log_dataset(
        self, df: pd.DataFrame, context: str, name: str, target: str | None = None, source: str | None = None
    ) -> DatasetRecord:
        """Log ``df`` as an MLflow dataset input with its full-content sha256 (tag) and a 36-character digest."""
        record = writer.write_dataset(df, context, name, target, source)
        self.datasets[context] = record
        return record

    def log_data(
        self,
        training: pd.DataFrame,
        evaluation: pd.DataFrame | None = None,
        *,
        target: str,
        name: str,
        contract: str | Path | None = None,
        task: str | None = None,
        source: str | None = None,
    ) -> None:
        """Validate the training data against ``contract``, then log both sets and the evaluation artifact.

        Both frames hold the features and the ``target`` column. Raises ContractError (after recording
        the failed validation on the run) when the training data breaks the contract.
        """

        for label, frame in (("training", training), ("evaluation", evaluation)):
            if frame is not None and target not in frame.columns:
                raise TrainingError(f"the {label} data has no target column {target!r}", "pass target= its name")
        self.target = target
        self.task = task or infer_task(training[target])
        if self.task not in ("classification", "regression"):
            raise TrainingError(f"task must be classification or regression, got {self.task!r}", "fix task=")
        writer.write_task(self.task, target)
        if contract is not None:
            self.validate(training.drop(columns=[target]), contract)
        self.training_data = training
        self.log_dataset(training, "training", name, target, source)
        if evaluation is not None:
            self.evaluation_data = evaluation
            self.log_dataset(evaluation, "evaluation", name, target, source)
            writer.write_evaluation_set(evaluation)

    def validate(self, features: pd.DataFrame, contract: str | Path) -> Any:
        """Validate ``features`` against a contract file; record passed/failed, the report and the contract."""

        self.contract_path = Path(contract)
        bound = load_contract(contract)
        report = validate(bound, features)
        self.contract_report = report
        passed = bool(report.success)
        body = report.to_dict() if hasattr(report, "to_dict") else {"success": passed, "report": str(report)}
        writer.write_contract_validation(passed, body, bound.source_text)
        if not passed:
            raise ContractError(
                f"the training data breaks contract {bound.name}@{bound.version} ({contract})",
                f"see {keys.CONTRACT_VALIDATION_ARTIFACT} on run {self.run_id}; fix the data or the contract",
            )
        return report

    # tests ----------------------------------------------------------------------------------------
    def attach_tests(self, junit_path: str | Path) -> TestResults:
        """Attach a JUnit XML report of the feature-transform tests to the run."""

        results = writer.write_transform_tests(junit_path)
        self.tests = results
        return results

    def start_tests(self, *paths: str | Path) -> None:
        """Start pytest on the feature-transform tests in the background (they run while you train)."""
        self.stop_tests()
        self._pending_tests = PytestRun(paths, self.project_dir)

    def wait_for_tests(self, require_pass: bool = True) -> TestResults | None:
        """Wait for the tests started by ``start_tests``, attach their JUnit XML; TrainingError if they failed."""
        pending, self._pending_tests = self._pending_tests, None
        if pending is None:
            return self.tests
        try:
            results = self.attach_tests(pending.wait().path)
        finally:
            pending.stop()
        if require_pass and not results.passed:
            raise TrainingError(
                f"the feature-transform tests did not pass ({results.summary()}): {', '.join(results.failed[:5])}",
                "fix them and train again; no model is logged from this run; the report is attached to it",
            )
        return results

    def stop_tests(self) -> None:
        """Stop tests still running in the background (when the training fails)."""
        pending, self._pending_tests = self._pending_tests, None
        if pending is not None:
            pending.stop()

    def run_tests(self, *paths: str | Path, require_pass: bool = True) -> TestResults:
        """Run pytest on the feature-transform tests now and attach the JUnit XML; TrainingError if they fail."""
        self.start_tests(*paths)
        results = self.wait_for_tests(require_pass)
        assert results is not None
        return results

    # model ----------------------------------------------------------------------------------------
    def evaluate(self, model: Any) -> dict[str, float]:
        """Metrics of ``model`` on the logged evaluation set, logged on the run."""
        import mlflow

        if self.evaluation_data is None or self.target is None:
            raise TrainingError("no evaluation set was logged", "call run.log_data(training, evaluation, ...) first")
        features = self.evaluation_data.drop(columns=[self.target])
        self.metrics = evaluation_metrics(model, features, self.evaluation_data[self.target], self.task or "")
        mlflow.log_metrics(self.metrics)
        return self.metrics

    def log_profile(self, model: Any) -> None:
        """Log the reference profile for drift: training features and the model's predictions on them."""

        if self.training_data is None or self.target is None:
            raise TrainingError("no training data was logged", "call run.log_data(...) first")
        features = self.training_data.drop(columns=[self.target])
        writer.write_reference_profile(features, model.predict(features))

    def log_model(
        self,
        model: Any,
        input_example: pd.DataFrame | None = None,
        *,
        name: str = "model",
        evaluate: bool = True,
        flavor: str = "sklearn",
        **log_kwargs: Any,
    ) -> str:
        """Log the model with pinned requirements, signature and input example; evaluate and profile it.

        The input example defaults to the first five training rows. Returns the model URI to register.
        """
        import mlflow
        from mlflow.models import infer_signature

        self.wait_for_tests()  # no model is logged before its transform tests have passed
        if input_example is None:
            if self.training_data is None or self.target is None:
                raise TrainingError("no input example", "pass input_example= or call run.log_data(...) first")
            input_example = self.training_data.drop(columns=[self.target]).head(5)
        signature = infer_signature(input_example, model.predict(input_example))
        logger = getattr(mlflow, flavor)
        info = logger.log_model(
            model,
            name=name,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements(self.environment),
            **log_kwargs,
        )
        self.model_uri = str(info.model_uri)
        if evaluate and self.evaluation_data is not None:
            self.evaluate(model)
        if evaluate and self.training_data is not None:
            self.log_profile(model)
        return self.model_uri

    def register(
        self, name: str, card: str | Path | Mapping[str, Any], contract: str | Path | None = None
    ) -> Registration:
        """Register the logged model with its card; the card's training_data is filled in from the run."""
        if self.model_uri is None:
            raise TrainingError("no model was logged in this run", "call run.log_model(model) first")
        training = self.datasets.get("training")
        if training is None:
            raise TrainingError("no training data was logged", "call run.log_data(...) first")
        model_card = card_with_training_data(card, training)
        contract = contract if contract is not None else self.contract_path
        bound_contract = None if contract is None else load_contract(contract)
        return register_version(Registry.from_settings(self.settings), name, self.model_uri, model_card, bound_contract)


def _target_settings(target: Settings | Registry | None) -> Settings:
    if isinstance(target, Registry):
        return target.settings
    if isinstance(target, Settings):
        return target
    return load_settings()


@contextlib.contextmanager
def track(
    target: Settings | Registry | None = None,
    *,
    experiment: str = "mlgate-training",
    seed: int = 42,
    run_name: str | None = None,
    entry_point: str | None = None,
    params: Mapping[str, Any] | None = None,
    requirements: Sequence[str] = DEFAULT_REQUIREMENTS,
    tests: Sequence[str | Path] = (),
    project_dir: str | Path = ".",
) -> Iterator[TrainingRun]:
    """Open an MLflow run that records everything a rebuild needs; seeds are fixed for the block.

    ``target`` is the registry (Settings or Registry; default: the configured one). ``entry_point``
    (``module:function``) and ``params`` tell ``mlgate reproduce`` how to re-run the training:
    ``function(seed=seed, **params)`` returning a :class:`Fitted`. ``tests`` (the feature-transform
    tests) run with pytest in the background while the block trains; ``run.log_model`` waits for
    them and logs no model unless they pass, and the run fails when they fail. ``requirements`` are
    the packages the model needs at inference, pinned to their installed versions.
    """
    import mlflow

    settings = _target_settings(target)
    project = Path(project_dir).resolve()
    params = dict(params or {})
    if keys.SEED_PARAM in params:
        raise TrainingError(f"params must not hold {keys.SEED_PARAM!r}", "pass it as track(seed=...)")
    try:
        json.dumps(params)
    except TypeError as exc:
        raise TrainingError(f"params must be JSON values (text, numbers, lists, maps): {exc}", "fix params") from None
    if entry_point is not None:
        resolve_entry_point(entry_point)
    environment = capture_environment(requirements)
    Registry.from_settings(settings)  # creates a sqlite store's folder and schema
    with mlflow_uris(settings):
        if mlflow.active_run() is not None:
            raise TrainingError("an MLflow run is already active", "end it (mlflow.end_run()) before track()")
        if mlflow.get_experiment_by_name(experiment) is None:
            location = f"{settings.artifact_root}/{experiment}" if settings.artifact_root else None
            mlflow.create_experiment(experiment, artifact_location=location)
        mlflow.set_experiment(experiment)
        with fixed_seeds(seed) as rng, mlflow.start_run(run_name=run_name) as active:
            run = TrainingRun(settings, active.info.run_id, seed, rng, project)
            run.environment = environment
            writer.write_seed_and_params(
                seed, {k: json.dumps(v) if not isinstance(v, str) else v for k, v in params.items()}
            )
            writer.write_environment(environment)
            revision = code_revision(project)
            if revision:
                writer.write_code_revision(
                    revision, (uncommitted_changes(project) or "") if revision.endswith("-dirty") else None
                )
            if entry_point is not None:
                writer.write_entry_point(entry_point, params)
            if tests:
                run.start_tests(*tests)
            try:
                yield run
            except BaseException:
                run.stop_tests()
                raise
            run.wait_for_tests()
