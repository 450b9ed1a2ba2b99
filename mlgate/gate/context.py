"""The gate context: what a check may read about the version under test, each record read once and cached."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.contracts import Contract, contract_of_version
from mlgate.exceptions import MlgateError, RegistryError
from mlgate.registry import keys
from mlgate.registry.package import ModelPackage, download_package, open_package
from mlgate.stats.metrics import CLASSIFICATION, TASKS, Measured, measure

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion

    from mlgate.config import Settings
    from mlgate.registry import Registry


class RecordMissing(MlgateError):
    """A record a check needs is absent; the check fails with this message and hint."""


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
    policy_sha256: str = ""  # the release policy the gate runs under (the `approval` check compares it)
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
    def settings(self) -> Settings:
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
            return self.registry.run(run_id)  # type: ignore[no-any-return]

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
            if artifact_path not in self.registry.list_run_artifacts(run_id, parent):
                return None
            dst = self.workdir / "artifacts" / run_id
            dst.mkdir(parents=True, exist_ok=True)
            return self.registry.download_version_artifact(self.name, self.version, artifact_path, dst)

        return self._cached(f"artifact:{artifact_path}", make)  # type: ignore[no-any-return]

    # --- the model packages --------------------------------------------------------------------
    def model_dir(self, version: str | None = None) -> Path:
        """The model package of ``version`` (default: the version under test) downloaded from the registry."""
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
            if task not in TASKS:
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

    def probabilities(self, version: str | None = None) -> Any:
        """The class probabilities of ``version`` on the evaluation set (2-D numpy), or None when it gives none.

        Read from the model under the MLflow flavor (``predict_proba`` of a scikit-learn model).
        """
        import numpy as np

        version = str(version or self.version)

        def make() -> Any:
            evaluation = self.evaluation()
            if evaluation.task != CLASSIFICATION:
                return None
            try:
                predict_proba = getattr(self.package(version).model.get_raw_model(), "predict_proba", None)
                return None if predict_proba is None else np.asarray(predict_proba(evaluation.features))
            except MlgateError:
                raise
            except Exception:  # noqa: BLE001 - a flavor without probabilities: metrics that need them say so
                return None

        return self._cached(f"probabilities:{version}", make)

    def measured(self, version: str | None = None) -> Measured:
        """The metrics of ``version`` on the version under test's evaluation set, and why others are missing."""
        version = str(version or self.version)

        def make() -> Measured:
            evaluation = self.evaluation()
            return measure_evaluation(evaluation, self.predictions(version), self.probabilities(version))

        return self._cached(f"measured:{version}", make)  # type: ignore[no-any-return]

    def metrics(self, version: str | None = None) -> dict[str, float]:
        """Every metric mlgate computes for ``version`` on the evaluation set of the version under test."""
        return self.measured(version).values

    def contract(self, version: str | None = None) -> Contract | None:
        """The data contract bound to ``version`` (default: the version under test), or None."""
        version = str(version or self.version)
        return self._cached(  # type: ignore[no-any-return]
            f"contract:{version}", lambda: contract_of_version(self.registry, self.name, version)
        )


def measure_evaluation(evaluation: Evaluation, predicted: Any, proba: Any = None) -> Measured:
    """Every metric of the evaluation's task (mlgate.stats.metrics) for ``predicted`` against its target."""
    if evaluation.task == CLASSIFICATION and predicted.ndim != 1:
        raise RecordMissing("the model predicts scores, not labels", "log a model whose predict returns labels")
    return measure(evaluation.task, evaluation.target.to_numpy(), predicted, proba)


def compute_metrics(evaluation: Evaluation, predicted: Any, proba: Any = None) -> dict[str, float]:
    """Classification or regression metrics of ``predicted`` against the evaluation target, by canonical name."""
    return measure_evaluation(evaluation, predicted, proba).values
