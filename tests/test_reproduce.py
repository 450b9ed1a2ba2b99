"""`mlgate reproduce`: retrieve a version's package, diff the environment, re-run its training, compare predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sklearn
import yaml
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlgate import api
from mlgate.cli import main
from mlgate.registry import Registry, keys
from mlgate.testing import log_tiny_model, write_card
from pipelines import data, train
from pipelines.testing import trained_example

ROOT = Path(train.ROOT)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The example pipeline trained once per session from a CSV copy of its data (so tests can change it)."""
    example = trained_example(tmp_path_factory.getbasetemp())
    config = tmp_path_factory.mktemp("reproduce-config")
    (config / "mlgate.yaml").write_text(
        yaml.safe_dump({"tracking_uri": example.settings.tracking_uri, "artifact_root": example.settings.artifact_root})
    )
    return {"settings": example.settings, "source": example.source, "outcome": example.outcome, "config": config}


@pytest.fixture
def registry(trained) -> Registry:
    return Registry.from_settings(trained["settings"])


def cli(trained, monkeypatch, *args: str):
    monkeypatch.setenv("MLGATE_CONFIG_DIR", str(trained["config"]))
    return CliRunner().invoke(main, ["reproduce", train.MODEL_NAME, "1", "--project-dir", str(ROOT), *args])


def test_an_unchanged_setup_reproduces_identically_and_keeps_the_package(trained, monkeypatch, tmp_path):
    result = cli(trained, monkeypatch, "--json", "--output", str(tmp_path / "pkg"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["reproduced"] is True and report["reason"] is None
    assert report["comparison"]["compared"] == "probabilities"
    assert report["comparison"]["differing_rows"] == 0 and report["comparison"]["max_abs_difference"] == 0.0
    assert report["seed"] == 42 and report["entry_point"] == "pipelines.train:fit"
    assert report["params"] == {"data_path": str(trained["source"]), "variant": 0}
    assert report["datasets"]["training"]["sha256"] == trained["outcome"].training_sha256
    assert f"scikit-learn=={sklearn.__version__}" in report["requirements"]
    assert not [d for d in report["differences"] if d["kind"] in ("requirement", "python", "seed", "data")]
    kept = tmp_path / "pkg"
    assert (kept / "mlgate" / "environment.json").is_file() and (kept / "reproduce.json").is_file()
    assert (kept / "model" / "requirements.txt").is_file() or list(kept.glob("model/**/requirements.txt"))


def test_another_seed_is_reported_and_the_predictions_differ(trained, monkeypatch):
    result = cli(trained, monkeypatch, "--seed", "7")
    assert result.exit_code == 1, result.output
    assert "seed: recorded 42, now 7" in result.output and "seed seed" not in result.output
    assert "NOT REPRODUCED" in result.output and "probabilities differ" in result.output


def test_changed_training_data_is_detected_by_its_digest(trained, registry):
    source: Path = trained["source"]
    original = source.read_text()
    frame = pd.read_csv(source)
    row = int(frame.index[~data.in_evaluation(frame[data.ID])][-1])  # the last training row
    frame.loc[row, "mean_radius"] += 0.001
    frame.to_csv(source, index=False)
    try:
        report = api.reproduce(train.MODEL_NAME, 1, project_dir=ROOT, registry=registry)
    finally:
        source.write_text(original)
    assert not report.reproduced
    assert "training data differs" in (report.reason or "")
    assert [d.kind for d in report.differences if d.kind == "data"] == ["data"]
    assert report.comparison is None  # predictions are not compared on other data


def test_missing_training_data_cannot_be_reproduced(trained, registry):
    source: Path = trained["source"]
    moved = source.with_suffix(".away")
    source.rename(moved)
    try:
        report = api.reproduce(train.MODEL_NAME, 1, project_dir=ROOT, registry=registry)
    finally:
        moved.rename(source)
    assert not report.reproduced
    assert "not available" in (report.reason or "") and str(source) in (report.reason or "")


def test_a_different_package_version_is_reported_and_strict_refuses_it(trained, registry, tmp_path):
    client = MlflowClient(trained["settings"].tracking_uri)
    run_id = trained["outcome"].run_id
    from mlflow.artifacts import download_artifacts

    original = Path(
        download_artifacts(
            run_id=run_id,
            artifact_path=keys.ENVIRONMENT_ARTIFACT,
            dst_path=str(tmp_path / "orig"),
            tracking_uri=trained["settings"].tracking_uri,
        )
    )
    env = json.loads(original.read_text())
    env["requirements"]["scikit-learn"] = env["packages"]["scikit-learn"] = "1.0.2"
    changed = tmp_path / "changed" / "environment.json"
    changed.parent.mkdir()
    changed.write_text(json.dumps(env))
    client.log_artifact(run_id, str(changed), keys.ARTIFACT_DIR)  # as if trained on another machine
    try:
        report = api.reproduce(train.MODEL_NAME, 1, project_dir=ROOT, registry=registry, strict=True)
        assert not report.reproduced and "scikit-learn" in (report.reason or "")
        report = api.reproduce(train.MODEL_NAME, 1, project_dir=ROOT, registry=registry)
    finally:
        client.log_artifact(run_id, str(original), keys.ARTIFACT_DIR)
    sklearn_diff = [d for d in report.differences if d.kind == "requirement"]
    assert [(d.name, d.recorded, d.current) for d in sklearn_diff] == [("scikit-learn", "1.0.2", sklearn.__version__)]
    assert report.reproduced  # the predictions still match: reported, not fatal without --strict


def test_a_version_without_a_training_record_cannot_be_reproduced(trained, registry, tmp_path):
    uri = log_tiny_model(trained["settings"])
    version = api.register("plain", uri, write_card(tmp_path / "card.yaml"), registry=registry).version
    report = api.reproduce("plain", version, project_dir=ROOT, registry=registry)
    assert not report.reproduced
    assert "no training entry point" in (report.reason or "")
    assert report.seed == 0 and report.requirements  # what exists is still retrieved and shown


def test_an_unknown_model_is_a_one_line_error_without_a_traceback(trained, monkeypatch):
    monkeypatch.setenv("MLGATE_CONFIG_DIR", str(trained["config"]))
    result = CliRunner().invoke(main, ["reproduce", "no-such-model", "1"])
    assert result.exit_code == 1
    assert "no registered model named 'no-such-model'" in result.output
    assert "Traceback" not in result.output


def test_a_stated_tolerance_accepts_small_differences_and_says_so(trained, registry):
    report = api.reproduce(train.MODEL_NAME, 1, project_dir=ROOT, seed=7, tolerance=1.0, registry=registry)
    assert report.reproduced and report.comparison is not None
    assert 0 < report.comparison.max_abs_difference <= 1.0
    assert "within 1" in report.comparison.summary()
    assert [d.kind for d in report.differences if d.kind == "seed"] == ["seed"]
