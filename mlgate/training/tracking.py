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
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.config import Settings, load_settings
from mlgate.exceptions import CardError, ContractError, TrainingError
from mlgate.registry import Registry, keys, mlflow_uris
from mlgate.training.provenance import (
    DEFAULT_REQUIREMENTS,
    PytestRun,
    TestResults,
    capture_environment,
    code_revision,
    dataset_sha256,
    file_sha256,
    fixed_seeds,
    installed_packages,
    parse_junit,
    pip_requirements,
    resolve_entry_point,
    run_pytest,
    uncommitted_changes,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.api import Registration

__all__ = [  # the provenance helpers are re-exported: mlgate.training is the one import a notebook needs
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


# --- what an entry point returns ------------------------------------------------------------------------
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
        import mlflow
        from mlflow.data.pandas_dataset import from_pandas

        sha = dataset_sha256(df)
        digest = sha[: keys.DIGEST_LENGTH]  # MLflow caps a dataset digest at 36 characters
        dataset = from_pandas(df, source=source, targets=target, name=name, digest=digest)  # type: ignore[arg-type]
        mlflow.log_input(dataset, context=context)
        mlflow.set_tags(
            {keys.DATASET_SHA256_TAG.format(context=context): sha, keys.DATASET_NAME_TAG.format(context=context): name}
        )
        record = DatasetRecord(context, name, sha, int(df.shape[0]), int(df.shape[1]))
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
        import mlflow

        for label, frame in (("training", training), ("evaluation", evaluation)):
            if frame is not None and target not in frame.columns:
                raise TrainingError(f"the {label} data has no target column {target!r}", "pass target= its name")
        self.target = target
        self.task = task or infer_task(training[target])
        if self.task not in ("classification", "regression"):
            raise TrainingError(f"task must be classification or regression, got {self.task!r}", "fix task=")
        mlflow.set_tags({keys.TASK_TAG: self.task, keys.EVALUATION_TARGET_TAG: target})
        if contract is not None:
            self.validate(training.drop(columns=[target]), contract)
        self.training_data = training
        self.log_dataset(training, "training", name, target, source)
        if evaluation is not None:
            self.evaluation_data = evaluation
            self.log_dataset(evaluation, "evaluation", name, target, source)
            with tempfile.TemporaryDirectory(prefix="mlgate-eval-") as tmp:
                path = Path(tmp) / Path(keys.EVALUATION_ARTIFACT).name
                evaluation.to_parquet(path, index=False)
                mlflow.log_artifact(str(path), str(Path(keys.EVALUATION_ARTIFACT).parent))

    def validate(self, features: pd.DataFrame, contract: str | Path) -> Any:
        """Validate ``features`` against a contract file; record passed/failed, the report and the contract."""
        import mlflow

        from mlgate.contracts import load_contract, validate

        self.contract_path = Path(contract)
        bound = load_contract(contract)
        report = validate(bound, features)
        self.contract_report = report
        passed = bool(report.success)
        mlflow.set_tag(keys.CONTRACT_VALIDATION_TAG, "passed" if passed else "failed")
        body = report.to_dict() if hasattr(report, "to_dict") else {"success": passed, "report": str(report)}
        mlflow.log_dict(body, keys.CONTRACT_VALIDATION_ARTIFACT)
        mlflow.log_text(bound.source_text, keys.CONTRACT_ARTIFACT)
        if not passed:
            raise ContractError(
                f"the training data breaks contract {bound.name}@{bound.version} ({contract})",
                f"see {keys.CONTRACT_VALIDATION_ARTIFACT} on run {self.run_id}; fix the data or the contract",
            )
        return report

    # tests ----------------------------------------------------------------------------------------
    def attach_tests(self, junit_path: str | Path) -> TestResults:
        """Attach a JUnit XML report of the feature-transform tests to the run."""
        import mlflow

        results = parse_junit(junit_path)
        with tempfile.TemporaryDirectory(prefix="mlgate-tests-") as tmp:
            copy = Path(tmp) / Path(keys.TRANSFORM_TESTS_ARTIFACT).name
            copy.write_bytes(Path(junit_path).read_bytes())
            mlflow.log_artifact(str(copy), str(Path(keys.TRANSFORM_TESTS_ARTIFACT).parent))
        mlflow.set_tag(keys.TRANSFORM_TESTS_TAG, "passed" if results.passed else "failed")
        mlflow.log_metrics(
            {"transform_tests": results.tests, "transform_test_failures": results.failures + results.errors}
        )
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
        import mlflow

        from mlgate.monitor.profile import build_profile

        if self.training_data is None or self.target is None:
            raise TrainingError("no training data was logged", "call run.log_data(...) first")
        features = self.training_data.drop(columns=[self.target])
        profile = build_profile(features, model.predict(features))
        mlflow.log_dict(profile, keys.REFERENCE_PROFILE_ARTIFACT)

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
        from mlgate import api

        if self.model_uri is None:
            raise TrainingError("no model was logged in this run", "call run.log_model(model) first")
        training = self.datasets.get("training")
        if training is None:
            raise TrainingError("no training data was logged", "call run.log_data(...) first")
        model_card = card_with_training_data(card, training)
        contract = contract if contract is not None else self.contract_path
        return api.register(
            name, self.model_uri, model_card, contract=contract, registry=Registry.from_settings(self.settings)
        )


def card_with_training_data(card: str | Path | Mapping[str, Any], training: DatasetRecord) -> Any:
    """The model card with ``training_data`` set to the run's training set (name and full sha256).

    A card that already names training data must name the same data.
    """
    import yaml

    from mlgate.registry.card import parse_card

    source = "<card>"
    if isinstance(card, Mapping):
        data = dict(card)
    else:
        source = str(card)
        try:
            data = yaml.safe_load(Path(card).read_text()) or {}
        except OSError as exc:
            raise CardError(source, [f"cannot read the file: {exc.strerror}"]) from None
        except yaml.YAMLError as exc:
            raise CardError(source, [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise CardError(source, ["the card must be a mapping of fields"])
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
    """accuracy, f1 (macro) and ROC AUC for classification; rmse, mae and r2 for regression."""
    from sklearn import metrics

    predicted = model.predict(features)
    if task == "regression":
        return {
            "rmse": float(np.sqrt(metrics.mean_squared_error(target, predicted))),
            "mae": float(metrics.mean_absolute_error(target, predicted)),
            "r2": float(metrics.r2_score(target, predicted)),
        }
    result = {
        "accuracy": float(metrics.accuracy_score(target, predicted)),
        "f1": float(metrics.f1_score(target, predicted, average="binary" if target.nunique() == 2 else "macro")),
    }
    if hasattr(model, "predict_proba") and target.nunique() >= 2:
        proba = model.predict_proba(features)
        with contextlib.suppress(ValueError):
            if proba.shape[1] == 2:
                result["roc_auc"] = float(metrics.roc_auc_score(target, proba[:, 1]))
            else:
                result["roc_auc"] = float(metrics.roc_auc_score(target, proba, multi_class="ovr"))
    return result


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
            mlflow.log_params(
                {
                    keys.SEED_PARAM: seed,
                    **{k: json.dumps(v) if not isinstance(v, str) else v for k, v in params.items()},
                }
            )
            mlflow.log_dict(environment, keys.ENVIRONMENT_ARTIFACT)
            revision = code_revision(project)
            if revision:
                mlflow.set_tag(keys.CODE_REVISION_TAG, revision)
                if revision.endswith("-dirty"):
                    mlflow.log_text(uncommitted_changes(project) or "", keys.CODE_DIFF_ARTIFACT)
            if entry_point is not None:
                mlflow.set_tags({keys.ENTRY_POINT_TAG: entry_point, keys.ENTRY_POINT_PARAMS_TAG: json.dumps(params)})
            if tests:
                run.start_tests(*tests)
            try:
                yield run
            except BaseException:
                run.stop_tests()
                raise
            run.wait_for_tests()
