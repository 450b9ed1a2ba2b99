"""The one writer of the training record: each record the release gate reads, logged on the active MLflow run.

``mlgate.training.track`` writes through these functions, and so do the test helpers that fake a
training run (``mlgate.testing.runs``): what the gate reads is written one way only.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.registry import keys
from mlgate.stats.digest import dataset_sha256
from mlgate.stats.profile import build_profile
from mlgate.training.provenance import TestResults, parse_junit
from mlgate.training.records import DatasetRecord

if TYPE_CHECKING:
    import pandas as pd


def write_seed_and_params(seed: int, params: Mapping[str, Any] | None = None) -> None:
    """The seed every random source was fixed with, and the entry point's parameters, as run params."""
    import mlflow

    mlflow.log_params({keys.SEED_PARAM: seed, **dict(params or {})})


def write_environment(environment: Mapping[str, Any]) -> None:
    """The exact package versions, Python and platform (``mlgate/environment.json``)."""
    import mlflow

    mlflow.log_dict(dict(environment), keys.ENVIRONMENT_ARTIFACT)


def write_code_revision(revision: str, diff: str | None = None) -> None:
    """The git revision (``-dirty`` when the tree had changes) and the uncommitted ``diff``, when given."""
    import mlflow

    mlflow.set_tag(keys.CODE_REVISION_TAG, revision)
    if diff is not None:
        mlflow.log_text(diff, keys.CODE_DIFF_ARTIFACT)


def write_entry_point(entry_point: str, params: Mapping[str, Any]) -> None:
    """The ``module:function`` that ``mlgate reproduce`` calls, and its parameters."""
    import mlflow

    mlflow.set_tags({keys.ENTRY_POINT_TAG: entry_point, keys.ENTRY_POINT_PARAMS_TAG: json.dumps(dict(params))})


def write_task(task: str, target: str) -> None:
    """The task (classification or regression) and the evaluation target column."""
    import mlflow

    mlflow.set_tags({keys.TASK_TAG: task, keys.EVALUATION_TARGET_TAG: target})


def write_dataset(
    df: pd.DataFrame, context: str, name: str, target: str | None = None, source: str | None = None
) -> DatasetRecord:
    """``df`` as an MLflow dataset input, with its full-content sha256 as a tag and a 36-character digest."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    sha = dataset_sha256(df)
    digest = sha[: keys.DIGEST_LENGTH]  # MLflow caps a dataset digest at 36 characters
    dataset = from_pandas(df, source=source, targets=target, name=name, digest=digest)  # type: ignore[arg-type]
    mlflow.log_input(dataset, context=context)
    mlflow.set_tags(
        {keys.DATASET_SHA256_TAG.format(context=context): sha, keys.DATASET_NAME_TAG.format(context=context): name}
    )
    return DatasetRecord(context, name, sha, int(df.shape[0]), int(df.shape[1]))


def write_evaluation_set(evaluation: pd.DataFrame) -> None:
    """The evaluation set (features and target) as Parquet, which the gate scores every version on."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="mlgate-eval-") as tmp:
        path = Path(tmp) / Path(keys.EVALUATION_ARTIFACT).name
        evaluation.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), str(Path(keys.EVALUATION_ARTIFACT).parent))


def write_contract_validation(passed: bool, report: Mapping[str, Any] | None = None, contract_text: str = "") -> None:
    """Whether the training data met its contract, the validation report, and the contract itself."""
    import mlflow

    mlflow.set_tag(keys.CONTRACT_VALIDATION_TAG, "passed" if passed else "failed")
    if report is not None:
        mlflow.log_dict(dict(report), keys.CONTRACT_VALIDATION_ARTIFACT)
    if contract_text:
        mlflow.log_text(contract_text, keys.CONTRACT_ARTIFACT)


def write_transform_tests(junit_path: str | Path) -> TestResults:
    """The feature-transform tests' JUnit XML, their verdict as a tag and their counts as metrics."""
    import mlflow

    results = parse_junit(junit_path)
    with tempfile.TemporaryDirectory(prefix="mlgate-tests-") as tmp:
        copy = Path(tmp) / Path(keys.TRANSFORM_TESTS_ARTIFACT).name
        copy.write_bytes(Path(junit_path).read_bytes())
        mlflow.log_artifact(str(copy), str(Path(keys.TRANSFORM_TESTS_ARTIFACT).parent))
    mlflow.set_tag(keys.TRANSFORM_TESTS_TAG, "passed" if results.passed else "failed")
    mlflow.log_metrics({"transform_tests": results.tests, "transform_test_failures": results.failures + results.errors})
    return results


def write_reference_profile(features: pd.DataFrame, predictions: Any) -> None:
    """The reference profile drift is measured against: the training features and the model's predictions."""
    import mlflow

    mlflow.log_dict(build_profile(features, predictions), keys.REFERENCE_PROFILE_ARTIFACT)
