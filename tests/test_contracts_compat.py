"""Compatibility between contract versions (and MLflow signatures), with the reasons a reviewer needs."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest
from mlflow.models import infer_signature

from mlgate.contracts import Contract, compatible, parse_contract

BASE: dict[str, Any] = {
    "name": "features",
    "version": "1.0.0",
    "defaults": {"on_null": "reject_row", "on_invalid": "reject_row"},
    "columns": [
        {"name": "a", "type": "float", "nullable": True, "range": {"min": 0, "max": 10}},
        {"name": "b", "type": "str", "nullable": False, "allowed": ["x", "y"]},
    ],
    "backfill": {"strategy": "recompute", "description": "recompute from raw"},
}


def contract(version: str = "1.1.0", edit: Any = None) -> Contract:
    data = copy.deepcopy(BASE)
    data["version"] = version
    if edit:
        edit(data)
    return parse_contract(data, f"features-{version}.yaml")


OLD = contract("1.0.0")


def test_same_contract_is_compatible() -> None:
    result = compatible(OLD, contract("1.0.0"))
    assert result.ok and result.reasons == []


def test_added_optional_column_is_ok() -> None:
    new = contract(edit=lambda d: d["columns"].append({"name": "c", "type": "int", "nullable": True}))
    result = compatible(OLD, new)
    assert result.ok and "optional column c added" in result.notes


def test_added_required_column_is_not_ok() -> None:
    new = contract(edit=lambda d: d["columns"].append({"name": "c", "type": "int", "nullable": False}))
    result = compatible(OLD, new)
    assert not result.ok and "column c added as required" in result.reasons[0]


def test_removed_column_is_not_ok_even_with_a_major_version() -> None:
    result = compatible(OLD, contract("2.0.0", lambda d: d["columns"].pop(1)))
    assert not result.ok and result.reasons == ["column b removed"]


def test_type_change_is_not_ok() -> None:
    result = compatible(OLD, contract(edit=lambda d: d["columns"][0].update(type="int")))
    assert result.reasons == ["column a changed type from float to int"]


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        (lambda d: d["columns"][0].update(nullable=False), "no longer nullable"),
        (lambda d: d["columns"][0].update(range={"min": 1, "max": 10}), "min raised from 0 to 1"),
        (lambda d: d["columns"][1].update(allowed=["x"]), "allowed values removed: 'y'"),
    ],
)
def test_tightening_needs_a_new_major_version(edit: Any, what: str) -> None:
    minor = compatible(OLD, contract("1.1.0", edit))
    assert not minor.ok
    assert minor.reasons == [
        f"column {'b' if 'allowed' in what else 'a'}: {what}: needs a new major version (old 1.0.0, new 1.1.0)"
    ]
    major = compatible(OLD, contract("2.0.0", edit))
    assert major.ok and any(what in note for note in major.notes)


def test_loosening_is_ok() -> None:
    result = compatible(OLD, contract(edit=lambda d: d["columns"][1].update(allowed=["x", "y", "z"])))
    assert result.ok


def test_changed_content_under_the_same_version_is_not_ok() -> None:
    result = compatible(OLD, contract("1.0.0", lambda d: d.update(description="edited")))
    assert not result.ok and "changed without a new version number" in result.reasons[0]


def frame(**columns: Any) -> pd.DataFrame:
    return pd.DataFrame({k: [v] for k, v in columns.items()})


def test_signatures_are_compared_and_checked_against_the_contract() -> None:
    old_sig = infer_signature(frame(a=1.0, b="x"))
    assert compatible(OLD, contract(), old_sig, infer_signature(frame(a=1.0, b="x"))).ok
    needs_more = compatible(OLD, contract(), old_sig, infer_signature(frame(a=1.0, b="x", z=2.0)))
    assert not needs_more.ok
    assert "signature: new required input z (double) that old inputs do not have" in needs_more.reasons
    assert "signature input z is not defined by contract features@1.1.0" in needs_more.reasons
    retyped = compatible(OLD, contract(), old_sig, infer_signature(frame(a="1", b="x")))
    assert "signature: input a changed type from double to string" in retyped.reasons
    assert "signature input a is string but contract features says float" in retyped.reasons
    missing = compatible(OLD, contract(), old_sig, None)
    assert not missing.ok and "no MLflow signature" in missing.reasons[0]


def test_signature_in_dict_form() -> None:
    old_sig = infer_signature(frame(a=1.0, b="x"))
    result = compatible(OLD, contract(), old_sig.to_dict(), infer_signature(frame(a=1.0, b="x")).to_dict())
    assert result.ok, result.reasons
