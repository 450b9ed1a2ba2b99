"""Validation through real Great Expectations: each null/invalid policy, schema breaks, nothing dropped silently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlgate.contracts import (
    FLAGS_COLUMN,
    REJECTED_COLUMN,
    coerce,
    fast_validate,
    load_contract,
    parse_contract,
    validate,
)
from mlgate.contracts.report import apply_policies
from mlgate.testing import tiny_training_data

IRIS = Path(__file__).parent / "data" / "iris_contract.yaml"


def contract_with(on_null: Any = "reject_row", on_invalid: Any = "reject_row", **extra: Any) -> Any:
    return parse_contract(
        {
            "name": "orders",
            "version": "1.0.0",
            "columns": [
                {"name": "amount", "type": "float", "nullable": False, "range": {"min": 0, "max": 100},
                 "on_null": on_null, "on_invalid": on_invalid},
                {"name": "country", "type": "str", "nullable": True, "allowed": ["DE", "FR"], "on_invalid": "flag"},
            ],
            "backfill": {"strategy": "forward_only", "description": "history stays under the old contract"},
            **extra,
        },
        "orders.yaml",
    )  # fmt: skip


ORDERS = pd.DataFrame(
    {"amount": [10.0, None, 250.0, 5.0], "country": ["DE", "FR", "DE", "XX"]}, index=["a", "b", "c", "d"]
)


def test_clean_iris_data_passes_and_every_expectation_ran() -> None:
    x, _ = tiny_training_data()
    report = validate(load_contract(IRIS), x)
    assert report.success and report.clean
    # row count + per column: exists, not null, type, range
    assert report.expectations_run == 1 + 4 * 4
    assert report.rejected_rows == report.imputed == report.flagged == 0
    pd.testing.assert_frame_equal(report.model_input(), x)


def test_reject_row_removes_and_counts_rows() -> None:
    report = validate(contract_with(), ORDERS)
    assert report.success and not report.clean and not report.batch_rejected
    assert report.rejected_rows == 2 and list(report.rejected_index) == ["b", "c"]
    assert list(report.frame.index) == ["a", "d"]
    failed = {(f.column, f.kind): f for f in report.failures}
    assert failed[("amount", "null")].bad_rows == 1
    assert failed[("amount", "range")].sample == [250.0]
    assert failed[("amount", "range")].policy == "reject_row"
    assert report.rows_in == report.rows_out + report.rejected_rows
    assert report.rejected[REJECTED_COLUMN].to_dict() == {"b": "amount:null", "c": "amount:range"}


def test_reject_batch_refuses_everything() -> None:
    report = validate(contract_with(on_invalid="reject_batch"), ORDERS)
    assert not report.success and report.batch_rejected
    assert report.rejected_rows == 4 and report.frame.empty
    assert len(report.rejected) == 4 and set(report.rejected[REJECTED_COLUMN]) == {"amount:range"}
    assert "outside [0, 100]" in report.problems()["amount"][-1]


def test_impute_fills_the_stated_value() -> None:
    report = validate(contract_with(on_null={"impute": 1.5}, on_invalid={"impute": 100.0}), ORDERS)
    assert report.success and report.imputed == 2 and report.rejected_rows == 0
    assert report.frame["amount"].tolist() == [10.0, 1.5, 100.0, 5.0]


def test_flag_passes_rows_through_marked() -> None:
    report = validate(contract_with(on_null="flag", on_invalid="flag"), ORDERS)
    assert report.success and report.flagged == 3 and report.rows_out == 4
    assert report.frame[FLAGS_COLUMN].tolist() == ["", "amount:null", "amount:range", "country:allowed"]
    assert FLAGS_COLUMN not in report.model_input().columns


def test_missing_column_and_wrong_column_type_reject_the_batch() -> None:
    missing = validate(contract_with(), ORDERS.drop(columns=["amount"]))
    assert missing.batch_rejected and not missing.success
    assert missing.problems()["amount"] == ["column is missing"]
    wrong = validate(contract_with(), ORDERS.assign(amount=["1", "2", "3", "4"]))
    assert wrong.batch_rejected
    assert wrong.problems()["amount"] == ["column has type str, the contract says float"]


def test_extra_columns_reject() -> None:
    report = validate(contract_with(extra_columns="reject"), ORDERS.assign(debug=1))
    assert report.batch_rejected
    assert any(f.expectation == "expect_table_columns_to_match_set" for f in report.failures)
    assert validate(contract_with(), ORDERS.assign(debug=1)).success


def test_empty_batch_and_zero_expectations_are_never_success() -> None:
    empty = validate(contract_with(), ORDERS.iloc[0:0])
    assert not empty.success and empty.problems()[""] == ["the batch has no rows"]
    nothing_ran = apply_policies(contract_with(), ORDERS, [], engine="great_expectations")
    assert nothing_ran.expectations_run == 0 and not nothing_ran.success


def test_wrong_type_values_are_row_level_after_coerce() -> None:
    raw = pd.DataFrame({"amount": ["10", "oops", None, "7"], "country": ["DE", "FR", None, "FR"]})
    typed = coerce(contract_with(), raw)
    report = validate(contract_with(), typed)
    assert report.success and report.rejected_rows == 2
    bad_type = next(f for f in report.failures if f.kind == "type")
    assert bad_type.sample == ["oops"] and bad_type.bad_rows == 1
    assert report.frame["amount"].dtype == np.float64


def test_int_column_with_nulls_is_coerced_to_nullable_int() -> None:
    contract = parse_contract(
        {
            "name": "c",
            "version": "0.1.0",
            "columns": [
                {"name": "n", "type": "int", "nullable": True, "range": {"min": 0}, "on_invalid": "reject_row"}
            ],
            "backfill": {"strategy": "recompute", "description": "rerun"},
        }
    )
    typed = coerce(contract, pd.DataFrame({"n": [1.0, None, 3.0]}))
    assert str(typed["n"].dtype) == "Int64"
    assert fast_validate(contract, typed).clean and validate(contract, typed).clean
    half = coerce(contract, pd.DataFrame({"n": [1.0, 2.5, -3.0]}))
    report = validate(contract, half)
    assert report.rejected_rows == 2 and report.frame["n"].tolist() == [1]


@pytest.mark.parametrize("engine", [validate, fast_validate])
def test_report_is_json_ready(engine: Any) -> None:
    import json

    data = engine(contract_with(), ORDERS).to_dict()
    json.dumps(data)
    assert data["rejected_rows"] == 2 and data["rows_out"] == 2 and data["failures"]
