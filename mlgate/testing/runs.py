"""Training runs with every release record the gate reads (or one left out), for tests and benchmarks.

Written with plain MLflow calls following mlgate.keys, so the gate can be exercised without
mlgate.training: a seed param, a code revision, training and evaluation datasets with full-content
sha256 tags, the evaluation set, JUnit transform-test results, a reference profile, the contract
validation verdict.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.config import Settings
from mlgate.contracts import load_contract
from mlgate.registry import Registry, keys, mlflow_uris
from mlgate.registry.card import parse_card
from mlgate.testing import card_dict, tiny_training_data
from mlgate.training import writer

RECORDS = (
    "seed",
    "code_revision",
    "training_digest",
    "evaluation_digest",
    "evaluation_set",
    "transform_tests",
    "reference_profile",
    "contract_validation",
)
JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="transforms" tests="{tests}" failures="{failures}" errors="0" skipped="0">
{cases}</testsuite></testsuites>
"""


@dataclass(frozen=True)
class RecordedRun:
    """A training run with its records; ``model_uri`` is None when no model was logged in it."""

    run_id: str
    model_uri: str | None


def iris_frames(eval_rows: int | None = None, seed: int = 0) -> tuple[Any, Any, Any]:
    """(features, target, evaluation frame with a ``target`` column); ``eval_rows`` resamples with noise."""
    import numpy as np

    x, y = tiny_training_data(seed)
    evaluation = x.assign(target=y)
    if eval_rows:
        rng = np.random.default_rng(seed)
        picked = evaluation.sample(eval_rows, replace=True, random_state=seed).reset_index(drop=True)
        noise = rng.normal(0, 0.05, size=(eval_rows, x.shape[1]))
        picked[list(x.columns)] = (picked[list(x.columns)].to_numpy() + noise).clip(0.01, None)
        evaluation = picked
    return x, y, evaluation


@functools.lru_cache(maxsize=8)
def train_iris(seed: int = 0, c: float = 1.0) -> Any:
    """A LogisticRegression on iris (made once per arguments); a small ``c`` makes a deliberately worse model."""
    from sklearn.linear_model import LogisticRegression

    x, y, _ = iris_frames(seed=seed)
    return LogisticRegression(C=c, max_iter=300, random_state=seed).fit(x, y)


def pinned_requirements() -> list[str]:
    """The exact versions of this environment's scikit-learn and pandas."""
    from importlib.metadata import version

    return [f"scikit-learn=={version('scikit-learn')}", f"pandas=={version('pandas')}"]


def record_training_run(
    settings: Settings,
    experiment: str = "gate-records",
    model: Any = None,
    omit: Iterable[str] = (),
    pip_requirements: list[str] | None = None,
    eval_rows: int | None = None,
    contract_validation: str = "passed",
    transform_failures: int = 0,
    code_revision: str = "4f2a9c1e0b7d3a5c8e6f1a2b3c4d5e6f7a8b9c0d",
    seed: int = 0,
) -> RecordedRun:
    """Log one training run with every record the gate reads, except those named in ``omit``.

    With ``model`` the model is logged in the run (explicit pip_requirements, input example).
    """
    import mlflow

    omitted = set(omit)
    unknown = omitted - set(RECORDS)
    if unknown:
        raise ValueError(f"unknown record(s) {sorted(unknown)}; known: {', '.join(RECORDS)}")
    x, y, evaluation = iris_frames(eval_rows, seed)
    training = x.assign(target=y)
    with mlflow_uris(settings):
        if mlflow.get_experiment_by_name(experiment) is None:
            location = f"{settings.artifact_root}/{experiment}" if settings.artifact_root else None
            mlflow.create_experiment(experiment, artifact_location=location)
        mlflow.set_experiment(experiment)
        with mlflow.start_run() as run, tempfile.TemporaryDirectory(prefix="mlgate-records-") as tmp:
            folder = Path(tmp)
            if "seed" not in omitted:
                writer.write_seed_and_params(seed)
            if "code_revision" not in omitted:
                writer.write_code_revision(code_revision)
            for context, frame, record in (
                ("training", training, "training_digest"),
                ("evaluation", evaluation, "evaluation_digest"),
            ):
                writer.write_dataset(frame, context, f"iris-{context}", "target")
                if record in omitted:  # a run logged before full-content digests were recorded
                    mlflow.delete_tag(keys.DATASET_SHA256_TAG.format(context=context))
            if "evaluation_set" not in omitted:
                writer.write_evaluation_set(evaluation)
                writer.write_task("classification", "target")
            if "transform_tests" not in omitted:
                cases = "".join(
                    f'<testcase name="test_transform_{i}">'
                    + ("<failure message='boom'>assert 1 == 2</failure>" if i < transform_failures else "")
                    + "</testcase>\n"
                    for i in range(4)
                )
                path = folder / Path(keys.TRANSFORM_TESTS_ARTIFACT).name
                path.write_text(JUNIT.format(tests=4, failures=transform_failures, cases=cases))
                writer.write_transform_tests(path)
            if "contract_validation" not in omitted:
                writer.write_contract_validation(contract_validation == "passed")
            if "reference_profile" not in omitted:
                predictions = model.predict(x) if model is not None else train_iris(seed).predict(x)
                writer.write_reference_profile(x, predictions)
            model_uri = None
            if model is not None:
                info = mlflow.sklearn.log_model(
                    model,
                    name="model",
                    input_example=x.head(3),
                    pip_requirements=pip_requirements or pinned_requirements(),
                    serialization_format="cloudpickle",
                )
                model_uri = str(info.model_uri)
    return RecordedRun(run.info.run_id, model_uri)


def register_recorded(
    registry: Registry,
    name: str,
    model_uri: str,
    run_id: str | None = None,
    contract: str | Path | None = None,
    card: dict[str, Any] | None = None,
    description: str | None = None,
) -> str:
    """Register ``model_uri`` as a version whose records are in ``run_id`` (default: the model's own run).

    Writes what `mlgate register` writes: card tags and artifact, description, contract tags and file.
    """
    import yaml

    raw_card = card if card is not None else card_dict()
    tags = {keys.STATUS: "candidate"}  # the card itself: the file below, as `mlgate register` writes it
    text = description
    try:
        parsed = parse_card(raw_card)
        tags.update(parsed.to_tags())
        text = parsed.to_markdown() if description is None else description
    except Exception:  # noqa: BLE001 - an incomplete card is stored as it is, for the gate to find
        tags[keys.OWNER] = str(raw_card.get("owner", ""))
    source_text = None
    if contract is not None:
        bound = load_contract(contract)
        tags.update(bound.to_tags())
        source_text = bound.source_text
    mv = registry.create_version(name, model_uri, tags, text or "", run_id=run_id)
    version = str(mv.version)
    with tempfile.TemporaryDirectory(prefix="mlgate-register-") as tmp:
        card_file = Path(tmp) / Path(keys.CARD_ARTIFACT).name
        card_file.write_text(yaml.safe_dump(raw_card, sort_keys=False))
        registry.log_version_artifact(name, version, card_file, keys.version_artifact_dir(name, version))
        if source_text is not None:
            contract_file = Path(tmp) / Path(keys.CONTRACT_ARTIFACT).name
            contract_file.write_text(source_text)
            registry.log_version_artifact(name, version, contract_file, keys.version_artifact_dir(name, version))
    return version
