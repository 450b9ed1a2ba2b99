"""mlgate.training: full-content digests, seeds, environment, code revision and the records on the run."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlgate import training
from mlgate.exceptions import CardError, ContractError, TrainingError
from mlgate.registry import keys
from mlgate.testing import card_dict, throwaway_settings, tiny_training_data

IRIS_CONTRACT = {
    "name": "iris",
    "version": "1.0.0",
    "columns": [
        {"name": c, "type": "float", "nullable": False, "range": {"min": 0, "max": 10}, "on_null": "reject_row"}
        for c in ("sepal_length", "sepal_width", "petal_length", "petal_width")
    ],
    "defaults": {"on_invalid": "reject_row"},
    "backfill": {"strategy": "recompute", "description": "recompute from the source"},
}
PASSING_TEST = "def test_ok():\n    assert 1 + 1 == 2\n"
FAILING_TEST = "def test_ok():\n    assert 1 + 1 == 2\n\n\ndef test_broken():\n    assert 1 + 1 == 3\n"


# --- digests -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 20_000
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "k": rng.integers(0, 5, size=n),
            "s": rng.choice(["a", "b", "c"], size=n),
            "flag": rng.random(size=n) > 0.5,
        }
    )


@pytest.mark.parametrize("column,value", [("x", 123.25), ("k", 99), ("s", "zzz"), ("flag", None)])
@pytest.mark.parametrize("row", [0, 15_000])
def test_changing_any_row_changes_the_digest_even_after_10000_rows(big_frame, column, value, row):
    changed = big_frame.copy()
    changed.loc[row, column] = (not changed.loc[row, column]) if value is None else value
    assert training.dataset_sha256(changed) != training.dataset_sha256(big_frame)


def test_mlflows_own_digest_misses_a_change_after_10000_rows_and_ours_does_not(big_frame):
    from mlflow.data.pandas_dataset import from_pandas

    changed = big_frame.copy()
    changed.loc[15_000, "x"] = 1e9
    assert from_pandas(changed).digest == from_pandas(big_frame).digest  # why mlgate hashes itself
    assert training.dataset_sha256(changed) != training.dataset_sha256(big_frame)


def test_the_digest_covers_content_not_the_index_or_the_object():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", None]})
    same = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", None]}, index=[10, 11])
    assert training.dataset_sha256(frame) == training.dataset_sha256(same)
    assert len(training.dataset_sha256(frame)) == 64
    assert training.dataset_sha256(frame) != training.dataset_sha256(frame.assign(b=["x", "None"]))  # null != text
    assert training.dataset_sha256(frame) != training.dataset_sha256(frame.astype({"a": "float32"}))
    assert training.dataset_sha256(frame) != training.dataset_sha256(frame[["b", "a"]])
    assert training.dataset_sha256(frame) != training.dataset_sha256(frame.iloc[::-1])
    assert training.dataset_sha256(frame) != training.dataset_sha256(frame.rename(columns={"a": "c"}))


# --- seeds, environment, code revision, tests ---------------------------------------------------------------
def test_fixed_seeds_seed_python_and_numpy_for_the_block_then_restore_them():
    random.seed(1234)
    expected_after = random.random()
    random.seed(1234)
    with training.fixed_seeds(7) as rng:
        first = (random.random(), np.random.random(), rng.random())
    assert random.random() == expected_after  # the caller's stream continues untouched
    with training.fixed_seeds(7) as rng:
        assert (random.random(), np.random.random(), rng.random()) == first


def test_environment_pins_the_installed_versions_and_names_python_and_platform():
    import sklearn

    env = training.capture_environment(["scikit-learn", "numpy"])
    assert env["requirements"] == {"scikit-learn": sklearn.__version__, "numpy": np.__version__}
    assert training.pip_requirements(env) == [f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}"]
    assert env["python"].count(".") == 2 and env["system"] and env["machine"]
    assert env["packages"]["pandas"] == pd.__version__
    with pytest.raises(TrainingError, match="no-such-package-xyz"):
        training.capture_environment(["no-such-package-xyz"])


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


def test_code_revision_is_the_commit_with_dirty_when_tracked_files_changed(tmp_path):
    assert training.code_revision(tmp_path) is None
    _git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text("x = 1\n")
    _git(tmp_path, "add", "train.py")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert training.code_revision(tmp_path) == head
    (tmp_path / "train.py").write_text("x = 2\n")
    assert training.code_revision(tmp_path) == head + "-dirty"
    assert "+x = 2" in (training.uncommitted_changes(tmp_path) or "")


def test_entry_points_must_be_importable_module_function():
    assert training.resolve_entry_point("pipelines.train:fit").__name__ == "fit"
    for bad in ("pipelines.train", "no_such_module_xyz:fit", "pipelines.train:no_such_function"):
        with pytest.raises(TrainingError):
            training.resolve_entry_point(bad)


# --- a whole tracked run --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One tracked training on iris, logged and registered once for the module."""
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("training")
    settings = throwaway_settings(folder / "store")
    contract = folder / "iris.yaml"
    contract.write_text(yaml.safe_dump(IRIS_CONTRACT, sort_keys=False))
    (folder / "test_transforms.py").write_text(PASSING_TEST)
    card = dict(card_dict())
    card.pop("training_data")
    x, y = tiny_training_data()
    frame = x.assign(species=y)
    train_df, eval_df = frame.iloc[::2].reset_index(drop=True), frame.iloc[1::2].reset_index(drop=True)
    with training.track(
        settings,
        experiment="iris",
        seed=7,
        entry_point="pipelines.train:fit",
        params={"data_path": "", "variant": 0},
        tests=["test_transforms.py"],
        project_dir=folder,
        requirements=["scikit-learn", "numpy", "scipy", "pandas", "skops"],
    ) as run:
        state_inside = np.random.random()
        model = LogisticRegression(max_iter=300, random_state=run.random_state)
        model.fit(train_df.drop(columns=["species"]), train_df["species"])
        run.log_data(train_df, eval_df, target="species", name="iris", contract=contract)
        run.log_model(model)
        registration = run.register("iris", card)
    with training.fixed_seeds(7):
        expected_inside = np.random.random()
    client = MlflowClient(settings.tracking_uri)
    return {
        "run": run,
        "record": client.get_run(run.run_id),
        "client": client,
        "settings": settings,
        "registration": registration,
        "train": train_df,
        "eval": eval_df,
        "folder": folder,
        "seeded": (state_inside, expected_inside),
    }


def _artifact(tracked, path: str) -> Path:
    from mlflow.artifacts import download_artifacts

    dst = tracked["folder"] / "downloads" / path.replace("/", "_")
    return Path(
        download_artifacts(
            run_id=tracked["run"].run_id,
            artifact_path=path,
            dst_path=str(dst),
            tracking_uri=tracked["settings"].tracking_uri,
        )
    )


def test_the_run_records_seed_entry_point_and_params(tracked):
    data = tracked["record"].data
    assert data.params[keys.SEED_PARAM] == "7"
    assert data.params["variant"] == "0"
    assert data.tags[keys.ENTRY_POINT_TAG] == "pipelines.train:fit"
    assert json.loads(data.tags[keys.ENTRY_POINT_PARAMS_TAG]) == {"data_path": "", "variant": 0}
    assert tracked["seeded"][0] == tracked["seeded"][1]  # numpy's global generator was seeded with 7


def test_the_run_records_full_digests_of_both_datasets(tracked):
    data, inputs = tracked["record"].data, tracked["record"].inputs
    for context, frame in (("training", tracked["train"]), ("evaluation", tracked["eval"])):
        full = training.dataset_sha256(frame)
        assert data.tags[keys.DATASET_SHA256_TAG.format(context=context)] == full
        assert data.tags[keys.DATASET_NAME_TAG.format(context=context)] == "iris"
        logged = [d for d in inputs.dataset_inputs if any(t.value == context for t in d.tags)]
        assert len(logged) == 1
        assert logged[0].dataset.digest == full[: keys.DIGEST_LENGTH]
        assert logged[0].dataset.name == "iris"


def test_the_evaluation_set_is_stored_with_its_target_and_task(tracked):
    data = tracked["record"].data
    assert data.tags[keys.EVALUATION_TARGET_TAG] == "species"
    assert data.tags[keys.TASK_TAG] == "classification"
    stored = pd.read_parquet(_artifact(tracked, keys.EVALUATION_ARTIFACT))
    assert training.dataset_sha256(stored) == training.dataset_sha256(tracked["eval"])
    assert {"accuracy", "f1", "roc_auc"} <= set(data.metrics)


def test_the_environment_and_pinned_requirements_are_recorded(tracked):
    import sklearn

    env = json.loads(_artifact(tracked, keys.ENVIRONMENT_ARTIFACT).read_text())
    assert env["requirements"]["scikit-learn"] == sklearn.__version__
    assert env["packages"]["mlflow"]
    from mlflow.artifacts import download_artifacts

    from mlgate.registry import mlflow_uris

    with mlflow_uris(tracked["settings"]):
        local = Path(download_artifacts(artifact_uri=tracked["run"].model_uri, dst_path=str(tracked["folder"] / "m")))
    requirements = (local / "requirements.txt").read_text().split()
    assert f"scikit-learn=={sklearn.__version__}" in requirements
    assert all("==" in line for line in requirements)
    assert "pytest" not in " ".join(requirements)  # nothing inferred from the test environment
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    assert mlmodel["signature"]["inputs"] and (local / "input_example.json").is_file()


def test_contract_validation_and_transform_tests_are_attached(tracked):
    data = tracked["record"].data
    assert data.tags[keys.CONTRACT_VALIDATION_TAG] == "passed"
    assert json.loads(_artifact(tracked, keys.CONTRACT_VALIDATION_ARTIFACT).read_text())["success"] is True
    assert yaml.safe_load(_artifact(tracked, keys.CONTRACT_ARTIFACT).read_text())["name"] == "iris"
    assert data.tags[keys.TRANSFORM_TESTS_TAG] == "passed"
    junit = training.parse_junit(_artifact(tracked, keys.TRANSFORM_TESTS_ARTIFACT))
    assert (junit.tests, junit.failures) == (1, 0)


def test_the_reference_profile_covers_features_and_predictions(tracked):
    profile = json.loads(_artifact(tracked, keys.REFERENCE_PROFILE_ARTIFACT).read_text())
    assert set(profile["features"]) == {"sepal_length", "sepal_width", "petal_length", "petal_width"}
    assert profile["prediction"] and profile["row_count"] == len(tracked["train"])


def test_registration_fills_the_card_with_the_training_data_digest(tracked):
    registration = tracked["registration"]
    assert registration.card.training_data_name == "iris"
    assert registration.card.training_data_sha256 == training.dataset_sha256(tracked["train"])
    mv = tracked["client"].get_model_version("iris", registration.version)
    assert mv.run_id == tracked["run"].run_id
    assert mv.tags[keys.TRAINING_DATA_SHA256] == registration.card.training_data_sha256
    assert registration.contract and registration.contract["name"] == "iris"


def test_a_card_naming_other_training_data_is_refused(tracked):
    record = tracked["run"].datasets["training"]
    wrong = card_dict()  # its sha256 is of another frame
    with pytest.raises(CardError, match="not the data this run trained on"):
        training.card_with_training_data(wrong, record)
    same = card_dict(training_data={"name": "iris", "sha256": record.sha256})
    assert training.card_with_training_data(same, record).training_data_sha256 == record.sha256


# --- failures stop the run and say why ----------------------------------------------------------------------
def test_failing_transform_tests_stop_training_before_a_model_is_logged(tmp_path):
    settings = throwaway_settings(tmp_path / "store")
    (tmp_path / "test_transforms.py").write_text(FAILING_TEST)
    with pytest.raises(TrainingError, match=r"2 tests, 1 failures.*test_broken"):  # noqa: SIM117
        with training.track(settings, experiment="e", tests=["test_transforms.py"], project_dir=tmp_path) as run:
            run.log_model(object(), input_example=pd.DataFrame({"x": [1.0]}))  # waits for the tests first
    client = MlflowClient(settings.tracking_uri)
    record = client.get_run(run.run_id)
    assert record.info.status == "FAILED"
    assert record.data.tags[keys.TRANSFORM_TESTS_TAG] == "failed"
    assert client.search_logged_models(experiment_ids=[record.info.experiment_id]) == []


def test_training_data_that_breaks_the_contract_is_refused_and_recorded(tmp_path):
    settings = throwaway_settings(tmp_path / "store")
    contract = dict(IRIS_CONTRACT, defaults={"on_invalid": "reject_batch"})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(contract))
    x, y = tiny_training_data()
    broken = x.assign(species=y)
    broken.loc[3, "sepal_length"] = -5.0
    with pytest.raises(ContractError, match="breaks contract"):  # noqa: SIM117
        with training.track(settings, experiment="e", project_dir=tmp_path) as run:
            run.log_data(broken, target="species", name="iris", contract=tmp_path / "c.yaml")
    record = MlflowClient(settings.tracking_uri).get_run(run.run_id)
    assert record.data.tags[keys.CONTRACT_VALIDATION_TAG] == "failed"
    assert record.info.status == "FAILED"


def test_track_refuses_a_seed_in_params_and_unimportable_entry_points(tmp_path):
    settings = throwaway_settings(tmp_path / "store")
    with pytest.raises(TrainingError, match="seed"), training.track(settings, params={"seed": 1}):
        pass
    with pytest.raises(TrainingError, match="cannot import"), training.track(settings, entry_point="nope_xyz:fit"):
        pass
