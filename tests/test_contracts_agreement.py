"""The fast path and the Great Expectations path give the same verdicts on the same rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlgate.contracts import Contract, fast_validate, parse_contract, validate
from mlgate.contracts.report import ValidationReport

CATEGORIES = ["red", "green", "blue"]


def make_contract(row_level: bool) -> Contract:
    null = ["reject_row", {"impute": 1.0}, "flag"] if row_level else ["reject_batch"] * 3
    invalid = ["flag", "reject_row", {"impute": 2}] if row_level else ["reject_row", "reject_batch", "flag"]
    return parse_contract(
        {
            "name": "generated",
            "version": "2.0.0",
            "columns": [
                {"name": "x", "type": "float", "nullable": False, "range": {"min": 0, "max": 10},
                 "on_null": null[0], "on_invalid": invalid[0]},
                {"name": "y", "type": "float", "nullable": False, "range": {"min": -5, "max": 5},
                 "on_null": null[1], "on_invalid": invalid[1]},
                {"name": "n", "type": "int", "nullable": True, "range": {"min": 0, "max": 100},
                 "on_invalid": invalid[2]},
                {"name": "colour", "type": "str", "nullable": False, "allowed": CATEGORIES,
                 "on_null": null[2], "on_invalid": "reject_row" if row_level else "flag"},
                {"name": "note", "type": "str", "nullable": True, "on_invalid": "flag"},
                {"name": "ok", "type": "bool", "nullable": True, "on_invalid": "reject_row"},
            ],
            "backfill": {"strategy": "recompute", "description": "regenerate"},
        },
        "generated.yaml",
    )  # fmt: skip


def make_data(seed: int, n: int = 300, wrong_types: bool = True) -> pd.DataFrame:
    """Data with nulls, out-of-range values, unseen categories and (optionally) values of the wrong type."""
    rng = np.random.default_rng(seed)

    def holes(values: np.ndarray, rate: float) -> np.ndarray:
        out = values.astype(object)
        out[rng.random(n) < rate] = None
        return out

    x = rng.normal(5, 4, n)  # some below 0 and above 10
    y = rng.normal(0, 3, n)
    counts = rng.integers(-10, 120, n)
    colour = rng.choice([*CATEGORIES, "purple", "RED"], n, p=[0.3, 0.3, 0.3, 0.05, 0.05])
    frame = pd.DataFrame(
        {
            "x": x,
            "y": pd.Series(y).where(rng.random(n) > 0.05),
            "n": pd.array(np.where(rng.random(n) < 0.1, None, counts), dtype="Int64"),
            "colour": pd.Series(holes(colour, 0.05), dtype="str"),
            "note": pd.Series(holes(rng.choice(["a", "b"], n), 0.2), dtype="str"),
            "ok": pd.array(holes(rng.random(n) < 0.5, 0.1), dtype="boolean"),
        }
    )
    frame.loc[rng.random(n) < 0.05, "x"] = np.nan
    if wrong_types:  # object columns, as a JSON request or a dirty CSV gives them
        for name, bad in (("x", "oops"), ("y", "1,5"), ("n", 2.5), ("colour", 7), ("note", 3.0), ("ok", "yes")):
            col = frame[name].astype(object).where(frame[name].notna(), None)
            picks = rng.random(n) < 0.04
            col[picks] = bad
            frame[name] = col
    return frame.set_axis([f"r{i}" for i in range(n)])


def verdict(report: ValidationReport) -> dict[str, Any]:
    return {
        "success": report.success,
        "batch_rejected": report.batch_rejected,
        "expectations_run": report.expectations_run,
        "failures": [(f.expectation, f.column, f.kind, f.bad_rows, f.policy) for f in report.failures],
        "rejected_rows": report.rejected_rows,
        "rejected_index": list(report.rejected_index),
        "imputed": report.imputed,
        "flagged": report.flagged,
        "errors": report.errors,
    }


@pytest.mark.parametrize("row_level", [True, False])
@pytest.mark.parametrize(("seed", "wrong_types"), [(1, True), (2, True), (3, False)])
def test_fast_path_agrees_with_great_expectations(seed: int, wrong_types: bool, row_level: bool) -> None:
    contract = make_contract(row_level)
    data = make_data(seed, wrong_types=wrong_types)
    slow = validate(contract, data)
    fast = fast_validate(contract, data)
    assert verdict(fast) == verdict(slow)
    kinds = {f.kind for f in slow.failures}
    assert {"null", "range", "allowed"} <= kinds  # the data really exercised the checks
    if wrong_types:
        assert "type" in kinds
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    pd.testing.assert_frame_equal(fast.rejected, slow.rejected)
    for f_fast, f_slow in zip(fast.failures, slow.failures, strict=True):
        assert f_fast.sample == f_slow.sample, f_fast


def test_agreement_on_a_column_of_the_wrong_dtype() -> None:
    contract = make_contract(row_level=True)
    data = make_data(4, wrong_types=False).assign(n=lambda d: d["n"].astype("float64"), colour=1.0)
    slow, fast = validate(contract, data), fast_validate(contract, data)
    assert verdict(fast) == verdict(slow)
    assert slow.batch_rejected
    assert {f.column for f in slow.failures if f.kind == "column_type"} == {"n", "colour"}


def _cell(kind: str) -> Any:
    from hypothesis import strategies as st

    number = st.floats(-20, 120, allow_nan=False) | st.integers(-20, 120)
    return {
        "float": st.none() | number | st.sampled_from(["x", True]),
        "int": st.none() | st.integers(-20, 120) | st.sampled_from([2.5, "7"]),
        "str": st.none() | st.sampled_from([*CATEGORIES, "purple", 3]),
        "bool": st.none() | st.booleans() | st.sampled_from(["yes", 0]),
    }[kind]


def test_agreement_on_random_request_batches() -> None:
    """Random small batches as a JSON request gives them (object columns of mixed values), raw and coerced."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from mlgate.contracts import coerce

    contract = make_contract(row_level=True)
    kinds = {"x": "float", "y": "float", "n": "int", "colour": "str", "note": "str", "ok": "bool"}
    rows = st.lists(st.fixed_dictionaries({name: _cell(kind) for name, kind in kinds.items()}), min_size=1, max_size=8)

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
    @given(rows)
    def check(records: list[dict[str, Any]]) -> None:
        raw = pd.DataFrame.from_records(records)
        for frame in (raw, coerce(contract, raw)):
            slow, fast = validate(contract, frame), fast_validate(contract, frame)
            assert verdict(fast) == verdict(slow)
            pd.testing.assert_frame_equal(fast.frame, slow.frame)

    check()
