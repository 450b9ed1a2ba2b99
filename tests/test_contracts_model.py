"""Contract files: the iris example loads; malformed contracts are refused naming the file and the key."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.contracts import load_contract, parse_contract
from mlgate.exceptions import ContractError
from mlgate.registry import keys

IRIS = Path(__file__).parent / "data" / "iris_contract.yaml"


def base(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "orders",
        "version": "1.2.0",
        "columns": [
            {"name": "amount", "type": "float", "nullable": False, "range": {"min": 0}, "on_null": "reject_row",
             "on_invalid": "reject_batch"},
            {"name": "country", "type": "str", "nullable": True, "allowed": ["DE", "FR"], "on_invalid": "flag"},
        ],
        "backfill": {"strategy": "recompute", "description": "recompute from the raw order log"},
    }  # fmt: skip
    data.update(overrides)
    return data


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def refused(tmp_path: Path, data: Any) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ContractError) as info:
        load_contract(path)
    text = str(info.value)
    assert str(path) in text
    return text


def test_iris_example_loads_with_tags_and_hash() -> None:
    contract = load_contract(IRIS)
    assert (contract.name, contract.version) == ("iris-features", "1.0.0")
    assert contract.column_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert contract.source_text == IRIS.read_text()
    assert contract.sha256 == hashlib.sha256(IRIS.read_text().encode()).hexdigest()
    assert contract.to_tags() == {
        keys.CONTRACT_NAME: "iris-features",
        keys.CONTRACT_VERSION: "1.0.0",
        keys.CONTRACT_SHA256: contract.sha256,
    }
    assert contract.summary() == {"name": "iris-features", "version": "1.0.0", "sha256": contract.sha256}
    sepal = contract.column("sepal_length")
    assert (sepal.on_null.action, sepal.on_null.value, sepal.on_invalid.action) == ("impute", 5.8, "reject_row")
    assert contract.backfill.strategy == "recompute"


def test_defaults_fill_policies_columns_do_not_state() -> None:
    data = base(defaults={"on_null": "reject_batch", "on_invalid": "flag"})
    data["columns"][0].pop("on_null")
    data["columns"][0].pop("on_invalid")
    amount = parse_contract(data, "x.yaml").column("amount")
    assert (amount.on_null.action, amount.on_invalid.action) == ("reject_batch", "flag")


def test_missing_backfill_is_refused(tmp_path: Path) -> None:
    data = base()
    del data["backfill"]
    assert "backfill: missing (required)" in refused(tmp_path, data)


def test_backfill_needs_known_strategy_and_description(tmp_path: Path) -> None:
    text = refused(tmp_path, base(backfill={"strategy": "someday"}))
    assert "backfill.strategy" in text and "backfill.description: missing" in text


def test_unknown_policy_names_the_column_key(tmp_path: Path) -> None:
    data = base()
    data["columns"][0]["on_invalid"] = "drop_silently"
    text = refused(tmp_path, data)
    assert "columns[0] (amount).on_invalid: unknown policy 'drop_silently'" in text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"type": "decimal"}, "columns[0] (amount).type"),
        ({"nullable": "no"}, "columns[0] (amount).nullable"),
        ({"range": {"min": 5, "max": 1}}, "columns[0] (amount).range: min 5 is greater than max 1"),
        ({"range": [0, 1]}, "columns[0] (amount).range"),
        ({"allowed": [1, "x"]}, "columns[0] (amount).allowed"),
        ({"colour": "red"}, "unknown key(s) colour"),
        ({"on_null": "impute"}, "impute needs the value"),
        ({"on_null": None}, "columns[0] (amount).on_null: empty"),
        ({"on_null": {"impute": -1.0}}, "impute value -1.0 is not itself valid"),
    ],
)
def test_malformed_column_is_refused(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    data = base()
    data["columns"][0].update(change)
    assert expected in refused(tmp_path, data)


def test_nullable_column_with_on_null_is_contradictory(tmp_path: Path) -> None:
    data = base()
    data["columns"][1]["on_null"] = "reject_row"
    assert "columns[1] (country).on_null: a nullable column accepts nulls" in refused(tmp_path, data)


def test_column_without_stated_behaviour_is_refused(tmp_path: Path) -> None:
    data = base()
    data["columns"][0].pop("on_invalid")
    assert "columns[0] (amount).on_invalid: no behaviour stated" in refused(tmp_path, data)


def test_version_must_be_semver_text(tmp_path: Path) -> None:
    assert "version: must be a semantic version" in refused(tmp_path, base(version=1.2))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = base(version="one", extra_columns="maybe")
    del data["backfill"]
    data["columns"].append({"name": "amount", "type": "float", "nullable": True, "on_invalid": "flag"})
    text = refused(tmp_path, data)
    for key in ("version", "extra_columns", "backfill", "duplicate column name"):
        assert key in text
    assert "4 problem(s)" in text


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    assert "must be a mapping" in refused(tmp_path, ["a", "b"])
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ncolumns: [\n")
    with pytest.raises(ContractError, match="not valid YAML"):
        load_contract(path)
    with pytest.raises(ContractError, match="cannot read"):
        load_contract(tmp_path / "nope.yaml")
