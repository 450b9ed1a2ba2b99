"""The ingestion validator: the contract compiled into a Great Expectations 1.x suite, run on an ephemeral context."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import pandas as pd

from mlgate.contracts.checks import Check, CheckResult, is_object, plain_value, plan, typed_values
from mlgate.contracts.model import Contract
from mlgate.contracts.report import ValidationReport, apply_policies

SAMPLE = 5
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}

_CLASSES = {
    "expect_table_row_count_to_be_between": "ExpectTableRowCountToBeBetween",
    "expect_table_columns_to_match_set": "ExpectTableColumnsToMatchSet",
    "expect_column_to_exist": "ExpectColumnToExist",
    "expect_column_values_to_not_be_null": "ExpectColumnValuesToNotBeNull",
    "expect_column_values_to_be_in_type_list": "ExpectColumnValuesToBeInTypeList",
    "expect_column_values_to_be_of_type": "ExpectColumnValuesToBeOfType",
    "expect_column_values_to_be_between": "ExpectColumnValuesToBeBetween",
    "expect_column_values_to_be_in_set": "ExpectColumnValuesToBeInSet",
}


def _batch_definition() -> Any:
    """One ephemeral GX context per process (analytics and progress bars off), with a whole-dataframe batch."""
    if "batch" not in _STATE:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(),
        )
        context = gx.get_context(mode="ephemeral", project_config=config)
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        asset = context.data_sources.add_pandas("mlgate").add_dataframe_asset("batch")
        _STATE["context"] = context
        _STATE["batch"] = asset.add_batch_definition_whole_dataframe("whole")
    return _STATE["batch"]


def compile_suite(contract: Contract, checks: list[Check], name: str | None = None) -> Any:
    """A GX ExpectationSuite holding one expectation per check, each noting the contract column it enforces."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=name or f"{contract.name}@{contract.version}")
    for check in checks:
        cls = getattr(gxe, _CLASSES[check.expectation])
        kwargs = dict(check.kwargs)
        if check.column is not None:
            kwargs["column"] = check.column
        suite.add_expectation(cls(**kwargs, meta={"mlgate_kind": check.kind}))
    return suite


def _result_format(contract: Contract) -> dict[str, Any]:
    """SUMMARY (counts and samples) is enough when every policy rejects the batch; row policies need the rows."""
    row_level = any(p.action != "reject_batch" for c in contract.columns for p in (c.on_null, c.on_invalid))
    return {
        "result_format": "COMPLETE" if row_level else "SUMMARY",
        "partial_unexpected_count": SAMPLE,
        "return_unexpected_index_query": False,
        "include_unexpected_rows": False,
    }


def _validate(contract: Contract, df: pd.DataFrame, checks: list[Check], result_format: Any) -> dict[Any, Any]:
    """One GX validation run: ``{(expectation, column): ExpectationValidationResult}``."""
    with _LOCK:
        definition = _batch_definition()
        suite = compile_suite(contract, checks)
        batch = definition.get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(suite, result_format=result_format)
    return {(r.expectation_config.type, r.expectation_config.kwargs.get("column")): r for r in result.results}


def _run(contract: Contract, df: pd.DataFrame, checks: list[Check]) -> list[CheckResult]:
    """Run the checks: every one with BOOLEAN_ONLY (fast), then only the failed ones again for counts and rows."""
    if not checks:
        return []
    try:
        verdicts = _validate(contract, df, checks, "BOOLEAN_ONLY")
        failed = [c for c in checks if (c.expectation, c.column) in verdicts]
        failed = [c for c in failed if not verdicts[(c.expectation, c.column)].success]
        if failed:
            verdicts.update(_validate(contract, df, failed, _result_format(contract)))
    except Exception as exc:  # noqa: BLE001 - GX fails in many ways; the report must say so, never pass
        text = f"error: Great Expectations failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return [CheckResult(check, False, 0, [], observed=text) for check in checks]
    n = len(df)
    out = []
    for check in checks:
        r = verdicts.get((check.expectation, check.column))
        if r is None:
            out.append(CheckResult(check, False, 0, [], observed="error: GX did not run this expectation"))
            continue
        out.append(_from_gx(check, r, n))
    return out


def _from_gx(check: Check, r: Any, n: int) -> CheckResult:
    info = r.exception_info or {}
    raised = info.get("raised_exception") if isinstance(info, dict) else False
    if not raised and isinstance(info, dict):
        raised = any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())
    if raised:
        message = info.get("exception_message") or next(
            (v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("exception_message")),
            "unknown error",
        )
        return CheckResult(check, False, 0, [], observed=f"error: {message}")
    res = r.result or {}
    if not check.row_level:
        observed = str(res.get("observed_value", ""))
        return CheckResult(check, bool(r.success), 0 if r.success else n, [], observed=observed)
    count = int(res.get("unexpected_count", 0) or 0)
    mask = None
    if "unexpected_index_list" in res:
        mask = np.zeros(n, dtype=bool)
        mask[np.asarray(res["unexpected_index_list"], dtype=np.int64)] = True
    elif count == 0:
        mask = np.zeros(n, dtype=bool)
    sample = [plain_value(v) for v in res.get("partial_unexpected_list", [])[:SAMPLE]]
    return CheckResult(check, bool(r.success), count, sample, mask, observed=str(res.get("observed_value", "")))


def gx_validate(contract: Contract, df: pd.DataFrame) -> ValidationReport:
    """Validate with Great Expectations, then apply the contract's policies; zero expectations is never success.

    Object (mixed-type) columns are checked in two passes: first nulls and per-value types, then ranges and
    allowed values on the values of the right type only, so one wrong-type value cannot hide the others.
    """
    positional = df.set_axis(pd.RangeIndex(len(df)), axis=0)
    checks = plan(contract, positional)
    mixed = {c.column for c in checks if c.column in positional.columns and is_object(positional[c.column].dtype)}
    values_later = [c for c in checks if c.column in mixed and c.kind in ("range", "allowed")]
    first = [c for c in checks if c not in values_later]
    results = _run(contract, positional, first)
    if values_later:
        cleaned = positional.copy(deep=False)
        type_bad = {r.check.column: r.mask for r in results if r.check.kind == "type"}
        for name in mixed:
            cleaned[name] = typed_values(contract.column(str(name)), positional[name], type_bad.get(name))
        results += _run(contract, cleaned, values_later)
    order = {id(c): i for i, c in enumerate(checks)}
    results.sort(key=lambda r: order[id(r.check)])
    return apply_policies(contract, df, results, engine="great_expectations")
