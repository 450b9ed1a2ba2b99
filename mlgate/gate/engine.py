"""The checklist engine: run a stage's checks on a version, collect their evidence, never print."""

from __future__ import annotations

import importlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import MlgateError, RegistryError
from mlgate.gate.report import PASS, CheckResult, GateReport, Outcome
from mlgate.registry import keys, utcnow
from mlgate.registry.package import open_package

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion

    from mlgate.gate.policy import CheckEntry, Policy
    from mlgate.registry import Registry
    from mlgate.registry.package import ModelPackage


class RecordMissing(MlgateError):
    """A record a check needs is absent; the check fails with this message and hint."""


HIGHER_IS_BETTER = {
    "accuracy": True,
    "balanced_accuracy": True,
    "f1_macro": True,
    "precision_macro": True,
    "recall_macro": True,
    "r2": True,
    "rmse": False,
    "mae": False,
}
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro")
REGRESSION_METRICS = ("rmse", "mae", "r2")


@dataclass(frozen=True)
class Evaluation:
    """The evaluation set logged with the version: features, target and task."""

    features: pd.DataFrame
    target: pd.Series
    task: str
    source: str


@dataclass
class GateContext:
    """What a check may read about the version under test; every read is made once and cached."""

    registry: Registry
    name: str
    version: str
    stage: str
    workdir: Path
    _cache: dict[str, Any] = field(default_factory=dict)

    # --- registry records ------------------------------------------------------------------
    def _cached(self, key: str, make: Any) -> Any:
        if key not in self._cache:
            try:
                self._cache[key] = ("ok", make())
            except MlgateError as exc:
                self._cache[key] = ("error", exc)
        kind, value = self._cache[key]
        if kind == "error":
            raise value
        return value

    @property
    def settings(self) -> Any:
        return self.registry.settings

    @property
    def model_version(self) -> ModelVersion:
        """The registered version under test."""
        return self._cached("mv", lambda: self.registry.version(self.name, self.version))  # type: ignore[no-any-return]

    @property
    def tags(self) -> dict[str, str]:
        """The version's tags."""
        return dict(self.model_version.tags or {})

    @property
    def aliases(self) -> dict[str, str]:
        return self._cached("aliases", lambda: self.registry.aliases(self.name))  # type: ignore[no-any-return]

    @property
    def production_version(self) -> str | None:
        """The version production points at now, unless it is the version under test."""
        current = self.aliases.get(self.settings.aliases.production)
        return None if current == self.version else current

    @property
    def run(self) -> Run:
        """The version's source run (the training run that holds its records)."""

        def make() -> Run:
            run_id = self.model_version.run_id
            if not run_id:
                raise RecordMissing(
                    f"v{self.version} has no source run, so it has no training records",
                    "register a model logged inside an MLflow run (mlgate.training writes the records)",
                )
            return self.registry.call(f"reading run {run_id}", self.registry.client.get_run, run_id)

        return self._cached("run", make)  # type: ignore[no-any-return]

    @property
    def run_tags(self) -> dict[str, str]:
        return dict(self.run.data.tags or {})

    @property
    def run_params(self) -> dict[str, str]:
        return dict(self.run.data.params or {})

    def artifact(self, artifact_path: str) -> Path | None:
        """Download one artifact stored with the version (in its run); None when there is none."""

        def make() -> Path | None:
            run_id = self.model_version.run_id or self.tags.get(keys.RECORD_RUN)
            if not run_id:
                return None
            parent = str(Path(artifact_path).parent) if "/" in artifact_path else None
            listed = self.registry.call("listing artifacts", self.registry.client.list_artifacts, run_id, parent)
            if artifact_path not in {f.path for f in listed}:
                return None
            dst = self.workdir / "artifacts" / run_id
            dst.mkdir(parents=True, exist_ok=True)
            return self.registry.download_version_artifact(self.name, self.version, artifact_path, dst)

        return self._cached(f"artifact:{artifact_path}", make)  # type: ignore[no-any-return]

    # --- the model packages --------------------------------------------------------------------
    def model_dir(self, version: str | None = None) -> Path:
        """The model package of ``version`` (default: the version under test) downloaded from the registry."""
        from mlgate.registry.package import download_package

        version = str(version or self.version)

        def make() -> Path:
            return download_package(self.registry, self.name, version, self.workdir / f"model-v{version}")

        return self._cached(f"model_dir:{version}", make)  # type: ignore[no-any-return]

    def package(self, version: str | None = None) -> ModelPackage:
        """The loaded model of ``version`` (default: the version under test), with its signature and example."""
        version = str(version or self.version)

        def make() -> ModelPackage:
            try:
                return open_package(self.name, version, self.model_dir(version))
            except RegistryError as exc:
                raise RecordMissing(
                    exc.message.replace(f"the model of {self.name} v", "the model of v"),
                    "its artifacts are missing or corrupt, or its environment differs; register a new version",
                ) from None

        return self._cached(f"package:{version}", make)  # type: ignore[no-any-return]

    # --- evaluation ----------------------------------------------------------------------------
    def evaluation(self) -> Evaluation:
        """The evaluation set logged with the version (keys.EVALUATION_ARTIFACT)."""

        def make() -> Evaluation:
            import pandas as pd

            target = self.run_tags.get(keys.EVALUATION_TARGET_TAG)
            task = self.run_tags.get(keys.TASK_TAG, "")
            local = self.artifact(keys.EVALUATION_ARTIFACT)
            if local is None or not target:
                missing = keys.EVALUATION_ARTIFACT if local is None else f"run tag {keys.EVALUATION_TARGET_TAG}"
                raise RecordMissing(
                    f"no evaluation set: the run has no {missing}",
                    "log the evaluation features + target as a parquet with the target column's name in a run tag",
                )
            if task not in ("classification", "regression"):
                raise RecordMissing(
                    f"run tag {keys.TASK_TAG} is {task or 'missing'!r}",
                    "set it to classification or regression in the training run",
                )
            frame = pd.read_parquet(local)
            if target not in frame.columns:
                raise RecordMissing(f"the evaluation set has no target column {target!r}", "log it with the target")
            return Evaluation(frame.drop(columns=[target]), frame[target], task, keys.EVALUATION_ARTIFACT)

        return self._cached("evaluation", make)  # type: ignore[no-any-return]

    def predictions(self, version: str | None = None) -> Any:
        """The predictions of ``version`` on the version under test's evaluation set (1-D numpy)."""
        import numpy as np

        version = str(version or self.version)

        def make() -> Any:
            evaluation = self.evaluation()
            model = self.package(version).model
            try:
                raw = model.predict(evaluation.features)
            except Exception as exc:  # noqa: BLE001 - the model's own failure is the finding
                raise RecordMissing(
                    f"v{version} fails to predict the evaluation set: {type(exc).__name__}: {exc}",
                    "check the model against the evaluation set's columns and types",
                ) from None
            values = np.asarray(getattr(raw, "to_numpy", lambda: raw)())
            if values.ndim == 2 and values.shape[1] == 1:
                values = values[:, 0]
            return values

        return self._cached(f"predictions:{version}", make)

    def metrics(self, version: str | None = None) -> dict[str, float]:
        """Every metric mlgate computes for ``version`` on the evaluation set of the version under test."""
        version = str(version or self.version)
        return self._cached(  # type: ignore[no-any-return]
            f"metrics:{version}", lambda: compute_metrics(self.evaluation(), self.predictions(version))
        )

    def contract(self, version: str | None = None) -> Any:
        """The data contract bound to ``version`` (default: the version under test), or None."""
        version = str(version or self.version)
        contract_of_version = self.require("mlgate.contracts", "contract_of_version", "reads a version's contract")
        return self._cached(f"contract:{version}", lambda: contract_of_version(self.registry, self.name, version))

    def require(self, module: str, attribute: str, what: str) -> Any:
        """An attribute of another mlgate module; RecordMissing saying what is missing when absent."""
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            raise RecordMissing(
                f"{module}.{attribute} is not available in this mlgate ({what})",
                f"this check cannot pass until {module} provides {attribute}",
            ) from None


def compute_metrics(evaluation: Evaluation, predicted: Any) -> dict[str, float]:
    """Classification or regression metrics of ``predicted`` against the evaluation target."""
    import numpy as np
    from sklearn import metrics as m

    truth = evaluation.target.to_numpy()
    if evaluation.task == "classification":
        if predicted.ndim != 1:
            raise RecordMissing("the model predicts scores, not labels", "log a model whose predict returns labels")
        return {
            "accuracy": float(m.accuracy_score(truth, predicted)),
            "balanced_accuracy": float(m.balanced_accuracy_score(truth, predicted)),
            "f1_macro": float(m.f1_score(truth, predicted, average="macro", zero_division=0)),
            "precision_macro": float(m.precision_score(truth, predicted, average="macro", zero_division=0)),
            "recall_macro": float(m.recall_score(truth, predicted, average="macro", zero_division=0)),
        }
    predicted = predicted.astype("float64")
    return {
        "rmse": float(np.sqrt(m.mean_squared_error(truth, predicted))),
        "mae": float(m.mean_absolute_error(truth, predicted)),
        "r2": float(m.r2_score(truth, predicted)),
    }


def run_check(ctx: GateContext, entry: CheckEntry) -> CheckResult:
    """Run one check; a missing record fails it, anything it raises is reported as its error."""
    started = time.perf_counter()
    try:
        outcome = entry.fn(ctx, dict(entry.params))
        if isinstance(outcome, bool):
            outcome = Outcome(PASS if outcome else "fail", f"{entry.name} returned {outcome}")
        if not isinstance(outcome, Outcome):
            raise TypeError(f"a check must return mlgate.gate.Outcome or a bool, got {type(outcome).__name__}")
    except MlgateError as exc:
        outcome = Outcome("fail", exc.message, exc.hint or "")
    except Exception as exc:  # noqa: BLE001 - a broken check is reported, never a crash
        where = entry.name if entry.custom else f"built-in check {entry.name}"
        outcome = Outcome(
            "error", f"the check raised {type(exc).__name__}: {exc}", f"fix {where}; until then it counts as failed"
        )
    return CheckResult(
        name=entry.name,
        area=entry.area,
        status=outcome.status,
        evidence=outcome.evidence,
        action=outcome.action,
        details=outcome.details,
        seconds=round(time.perf_counter() - started, 4),
    )


def run_gate(registry: Registry, name: str, version: str, stage: str, policy: Policy | None = None) -> GateReport:
    """Run every check the policy names for ``stage`` on ``version`` and return the report (not stored)."""
    from mlgate.gate.policy import load_policy

    version = str(version)
    registry.version(name, version)  # fails early, naming the versions that exist
    policy = policy or load_policy(registry.settings, name)
    started_at = utcnow()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="mlgate-gate-"))
    try:
        ctx = GateContext(registry, name, version, stage, workdir)
        results = [run_check(ctx, entry) for entry in policy.checks_for(stage)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return GateReport(
        model=name,
        version=version,
        stage=stage,
        policy_sha256=policy.sha256,
        policy_sources=policy.sources,
        started_at=started_at,
        seconds=round(time.perf_counter() - started, 3),
        results=results,
    )
