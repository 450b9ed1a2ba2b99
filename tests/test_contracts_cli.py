"""`mlgate contract validate` on CSV and Parquet with exit codes, and contracts bound at register time."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result

from mlgate import api
from mlgate.cli import main
from mlgate.config import Settings
from mlgate.contracts import compatible, contract_of_version, load_contract
from mlgate.exceptions import ContractError
from mlgate.registry import Registry, keys, mlflow_uris
from mlgate.testing import tiny_training_data

IRIS = Path(__file__).parent / "data" / "iris_contract.yaml"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def clean_csv(tmp_path: Path) -> Path:
    x, _ = tiny_training_data()
    path = tmp_path / "clean.csv"
    x.to_csv(path, index=False)
    return path


@pytest.fixture
def dirty(tmp_path: Path) -> pd.DataFrame:
    x, _ = tiny_training_data()
    dirty = x.head(10).astype(object)
    dirty.loc[0, "sepal_length"] = None  # imputed 5.8
    dirty.loc[1, "petal_length"] = "1,4"  # wrong type: row rejected
    dirty.loc[2, "petal_width"] = 7.5  # out of range: flagged
    return dirty


def test_clean_csv_passes(clean_csv: Path) -> None:
    result = run("contract", "validate", str(IRIS), str(clean_csv))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("PASSED")
    assert "rows in 150, out 150; expectations run 17, failed 0" in result.output


def test_dirty_csv_reports_policies_and_writes_output(tmp_path: Path, dirty: pd.DataFrame) -> None:
    data = tmp_path / "dirty.csv"
    dirty.to_csv(data, index=False)
    out = tmp_path / "clean.parquet"
    quarantine = tmp_path / "rejected.csv"
    result = run("contract", "validate", str(IRIS), str(data), "--output", str(out), "--rejected", str(quarantine))
    assert result.exit_code == 0, result.output
    assert "ACCEPTED with policies applied" in result.output
    assert "rejected rows 1, imputed values 1, flagged rows 1" in result.output
    assert "'1,4'" in result.output
    written = pd.read_parquet(out)
    assert len(written) == 9 and written["sepal_length"].iloc[0] == 5.8
    assert written["_mlgate_flags"].tolist().count("petal_width:range") == 1
    assert pd.read_csv(quarantine)["_mlgate_rejected"].tolist() == ["petal_length:type"]
    strict = run("contract", "validate", str(IRIS), str(data), "--strict")
    assert strict.exit_code == 1


@pytest.mark.parametrize("fast", [False, True])
def test_rejected_parquet_batch_exits_1_with_json(tmp_path: Path, dirty: pd.DataFrame, fast: bool) -> None:
    data = tmp_path / "dirty.parquet"
    dirty.drop(columns=["sepal_width"]).assign(petal_length=1.0).to_parquet(data)
    result = run("contract", "validate", str(IRIS), str(data), "--json", *(["--fast"] if fast else []))
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["batch_rejected"] and not report["success"]
    assert report["engine"] == ("fast" if fast else "great_expectations")
    missing = [f for f in report["failures"] if f["kind"] == "missing_column"]
    assert missing == [
        {
            "expectation": "expect_column_to_exist",
            "column": "sepal_width",
            "kind": "missing_column",
            "bad_rows": 10,
            "sample": [],
            "problem": "column is missing",
            "policy": "reject_batch",
        }
    ]


def test_malformed_contract_and_missing_file_are_one_line_errors(tmp_path: Path, clean_csv: Path) -> None:
    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load(IRIS.read_text())
    del data["backfill"]
    data["columns"][0]["on_null"] = "shrug"
    bad.write_text(yaml.safe_dump(data))
    result = run("contract", "validate", str(bad), str(clean_csv))
    assert result.exit_code == 1
    assert str(bad) in result.output and "columns[0] (sepal_length).on_null" in result.output
    assert "backfill: missing" in result.output and "Traceback" not in result.output
    missing = run("contract", "validate", str(IRIS), str(tmp_path / "none.csv"))
    assert missing.exit_code == 1 and "cannot read data file" in missing.output


def test_register_binds_contract_through_the_api(
    registry: Registry, model_uri: str, card_path: Path, settings: Settings
) -> None:
    registration = api.register("iris", model_uri, card_path, contract=IRIS, registry=registry)
    expected = load_contract(IRIS)
    assert registration.contract == expected.summary()
    tags = registry.version("iris", registration.version).tags
    assert tags[keys.CONTRACT_NAME] == "iris-features" and tags[keys.CONTRACT_SHA256] == expected.sha256
    bound = contract_of_version(registry, "iris", registration.version)
    assert bound is not None and bound.source_text == IRIS.read_text() and bound.sha256 == expected.sha256
    plain = api.register("iris", model_uri, card_path, registry=registry)
    assert contract_of_version(registry, "iris", plain.version) is None
    # the contract matches the inputs the model was logged with
    import mlflow

    with mlflow_uris(settings):
        signature = mlflow.models.get_model_info(model_uri).signature
    assert compatible(bound, bound, new_signature=signature).ok


def test_register_refuses_a_bad_contract_before_writing(
    registry: Registry, model_uri: str, card_path: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: '1.0.0'\ncolumns: []\n")
    with pytest.raises(ContractError, match="columns"):
        api.register("iris", model_uri, card_path, contract=bad, registry=registry)
    assert registry.model_names() == [] or "iris" not in registry.model_names()


def test_register_with_contract_from_the_cli(cli_env: Settings, model_uri: str, card_path: Path) -> None:
    result = run("register", "iris", "--model-uri", model_uri, "--card", str(card_path), "--contract", str(IRIS))
    assert result.exit_code == 0, result.output
    assert "contract iris-features@1.0.0 bound" in result.output
    reg = Registry.from_settings(cli_env)
    bound = contract_of_version(reg, "iris", "1")
    assert bound is not None and bound.name == "iris-features"


def test_a_contract_file_changed_after_registration_is_refused(
    registry: Registry, model_uri: str, card_path: Path, tmp_path: Path
) -> None:
    version = api.register("iris", model_uri, card_path, contract=IRIS, registry=registry).version
    edited = tmp_path / "edit" / "contract.yaml"
    edited.parent.mkdir()
    edited.write_text(IRIS.read_text().replace("max: 5.0", "max: 50.0"))
    registry.log_version_artifact("iris", version, edited, keys.version_artifact_dir("iris", version))
    with pytest.raises(ContractError, match="does not match its recorded sha256"):
        contract_of_version(registry, "iris", version)


def test_compat_command_exits_1_with_reasons(tmp_path: Path) -> None:
    data = yaml.safe_load(IRIS.read_text())
    data["version"] = "1.1.0"
    data["columns"][0]["range"]["min"] = 1.0
    newer = tmp_path / "newer.yaml"
    newer.write_text(yaml.safe_dump(data))
    same = run("contract", "compat", str(IRIS), str(IRIS))
    assert same.exit_code == 0 and same.output.startswith("COMPATIBLE")
    tightened = run("contract", "compat", str(IRIS), str(newer))
    assert tightened.exit_code == 1
    assert "column sepal_length: min raised from 0.0 to 1.0: needs a new major version" in tightened.output
