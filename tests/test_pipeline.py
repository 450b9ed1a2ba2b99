"""The example pipeline end to end on a temporary registry: every record the gate and reproduce need, then the gate."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from mlflow.artifacts import download_artifacts
from mlflow.tracking import MlflowClient

from mlgate import api, training
from mlgate.registry import Registry, keys
from mlgate.registry.package import load_package
from pipelines import data, train
from pipelines.testing import trained_example


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The example pipeline trained and registered once per session (shared with test_reproduce)."""
    example = trained_example(tmp_path_factory.getbasetemp())
    registry = Registry.from_settings(example.settings)
    mv = registry.version(train.MODEL_NAME, example.version)
    return {
        "settings": example.settings,
        "registry": registry,
        "registration": example.outcome.registration,
        "version": mv,
        "run": MlflowClient(example.settings.tracking_uri).get_run(mv.run_id),
        "folder": tmp_path_factory.mktemp("pipeline"),
        "source": example.source,
    }


def artifact(pipeline, path: str) -> Path:
    dst = pipeline["folder"] / "downloads" / path.replace("/", "_")
    return Path(
        download_artifacts(
            run_id=pipeline["version"].run_id,
            artifact_path=path,
            dst_path=str(dst),
            tracking_uri=pipeline["settings"].tracking_uri,
        )
    )


def test_the_version_is_registered_with_its_card_contract_and_training_data(pipeline):
    expected_training, _ = data.split(data.load_source(pipeline["source"]))
    sha = training.dataset_sha256(expected_training)
    tags = pipeline["version"].tags
    assert pipeline["registration"].model == "breast-cancer"
    assert tags[keys.STATUS] == "candidate"
    assert tags[keys.TRAINING_DATA_NAME] == train.DATASET_NAME
    assert tags[keys.TRAINING_DATA_SHA256] == sha
    assert tags[keys.CONTRACT_NAME] == "breast-cancer-features" and tags[keys.CONTRACT_VERSION] == "1.0.0"
    run_tags = pipeline["run"].data.tags
    assert run_tags[keys.DATASET_SHA256_TAG.format(context="training")] == sha


def test_the_run_records_seed_code_revision_and_entry_point(pipeline):
    run = pipeline["run"].data
    assert run.params[keys.SEED_PARAM] == "42" and run.params["variant"] == "0"
    assert run.params["data_path"] == str(pipeline["source"])
    revision = run.tags[keys.CODE_REVISION_TAG]
    commit = revision.removesuffix("-dirty")
    assert subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=train.ROOT).returncode == 0
    if revision.endswith("-dirty"):
        assert artifact(pipeline, keys.CODE_DIFF_ARTIFACT).is_file()
    assert run.tags[keys.ENTRY_POINT_TAG] == train.ENTRY_POINT
    assert run.tags[keys.TASK_TAG] == "classification" and run.tags[keys.EVALUATION_TARGET_TAG] == data.TARGET


def test_the_transform_tests_ran_and_passed(pipeline):
    results = training.parse_junit(artifact(pipeline, keys.TRANSFORM_TESTS_ARTIFACT))
    assert results.passed and results.tests >= 15 and results.failures == 0
    assert pipeline["run"].data.tags[keys.TRANSFORM_TESTS_TAG] == "passed"


def test_the_training_data_was_validated_against_the_contract(pipeline):
    assert pipeline["run"].data.tags[keys.CONTRACT_VALIDATION_TAG] == "passed"
    report = json.loads(artifact(pipeline, keys.CONTRACT_VALIDATION_ARTIFACT).read_text())
    assert report["success"] and report["rows_in"] == len(data.load_source(pipeline["source"]))


def test_evaluation_set_metrics_and_profile_are_logged(pipeline):
    evaluation = pd.read_parquet(artifact(pipeline, keys.EVALUATION_ARTIFACT))
    assert list(evaluation.columns) == [*data.FEATURES, data.TARGET]
    assert (
        training.dataset_sha256(evaluation)
        == pipeline["run"].data.tags[keys.DATASET_SHA256_TAG.format(context="evaluation")]
    )
    assert pipeline["run"].data.metrics["accuracy"] > 0.9
    profile = json.loads(artifact(pipeline, keys.REFERENCE_PROFILE_ARTIFACT).read_text())
    assert set(profile["features"]) == set(data.FEATURES)
    assert profile["features"]["size_band"]["kind"] == "categorical"


def test_the_registered_model_serves_its_input_example_and_rows_with_nulls(pipeline, tmp_path):
    package = load_package(pipeline["registry"], "breast-cancer", pipeline["registration"].version, tmp_path)
    assert set(package.model.predict(package.input_example)) <= {0, 1}
    rows = package.input_example.copy()
    rows.loc[0, "mean_radius"] = None
    rows.loc[1, "shape_irregularity"] = None
    rows.loc[2, "size_band"] = "unheard-of"
    assert len(package.model.predict(rows)) == len(rows)
    requirements = (package.path / "requirements.txt").read_text().split()
    assert requirements and all("==" in r for r in requirements)


def test_the_version_passes_the_staging_release_gate(pipeline):
    report = api.check(
        "breast-cancer", pipeline["registration"].version, stage="staging", registry=pipeline["registry"]
    )
    assert report.passed, [f"{r.name}: {r.evidence}" for r in report.failures]
    names = {r.name for r in report.results}
    assert {"requirements_pinned", "seed_recorded", "dataset_digests", "code_revision", "transform_tests"} <= names
