"""The validation report, and the one place the contract's null/invalid policies are applied to a frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlgate.contracts.checks import CheckResult, is_object, value_types
from mlgate.contracts.model import FLAGS_COLUMN, REJECTED_COLUMN, Contract, Policy

_PROBLEMS = {
    "row_count": "the batch has no rows",
    "columns": "the columns differ from the contract's (extra_columns: reject)",
    "missing_column": "column is missing",
    "column_type": "column has the wrong type",
    "null": "null values in a non-nullable column",
    "type": "values of the wrong type",
    "range": "values out of range",
    "allowed": "values not among the allowed ones",
}


@dataclass(frozen=True)
class Failure:
    """One failed expectation: which column, how many rows, sample bad values, and what the contract did."""

    expectation: str
    column: str | None
    kind: str
    bad_rows: int
    sample: list[Any]
    problem: str
    policy: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ValidationReport:
    """The verdict on one batch: failed expectations and what the policies did (none dropped silently)."""

    contract: dict[str, str]
    engine: str  # great_expectations | fast
    rows_in: int
    expectations_run: int
    failures: list[Failure]
    batch_rejected: bool
    rejected_rows: int
    imputed: int
    flagged: int
    frame: pd.DataFrame
    rejected_index: pd.Index = field(default_factory=lambda: pd.Index([]))
    errors: list[str] = field(default_factory=list)  # checks that could not be evaluated
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)  # the rejected rows, with why, for quarantine

    @property
    def success(self) -> bool:
        """The batch is usable under the contract: at least one expectation ran, none errored, no batch rejection."""
        return self.expectations_run > 0 and not self.errors and not self.batch_rejected

    @property
    def clean(self) -> bool:
        """Every expectation passed: no policy had anything to do."""
        return self.success and not self.failures

    @property
    def rows_out(self) -> int:
        return len(self.frame)

    def model_input(self) -> pd.DataFrame:
        """The frame after policies, without mlgate's flags column: what a model should receive."""
        return self.frame.drop(columns=[FLAGS_COLUMN], errors="ignore")

    def problems(self) -> dict[str, list[str]]:
        """Per column (``""`` for the whole batch), short human texts: what an HTTP 4xx answer can show."""
        out: dict[str, list[str]] = {}
        for f in self.failures:
            out.setdefault(f.column or "", []).append(f.problem)
        for e in self.errors:
            out.setdefault("", []).append(e)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "engine": self.engine,
            "success": self.success,
            "clean": self.clean,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "expectations_run": self.expectations_run,
            "batch_rejected": self.batch_rejected,
            "rejected_rows": self.rejected_rows,
            "imputed": self.imputed,
            "flagged": self.flagged,
            "failures": [f.to_dict() for f in self.failures],
            "errors": list(self.errors),
            "rejected_index_sample": [_jsonable(v) for v in self.rejected_index[:20]],
            "rejected_reasons_sample": self.rejected[REJECTED_COLUMN].head(20).tolist() if len(self.rejected) else [],
        }


def _jsonable(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _problem(result: CheckResult, contract: Contract) -> str:
    check = result.check
    text = _PROBLEMS[check.kind]
    if check.kind == "column_type" and check.column is not None:
        text = f"column has type {result.observed or '?'}, the contract says {contract.column(check.column).type}"
    elif check.kind == "range":
        lo, hi = check.kwargs.get("min_value"), check.kwargs.get("max_value")
        bounds = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        text = f"{result.bad_rows} value(s) outside {bounds}"
    elif check.kind == "allowed":
        text = f"{result.bad_rows} value(s) not in the allowed set"
    elif check.kind in ("null", "type"):
        text = f"{result.bad_rows} {text}"
    if result.sample and check.kind in ("type", "range", "allowed"):
        text += f", e.g. {', '.join(repr(v) for v in result.sample[:3])}"
    return text


def apply_policies(contract: Contract, df: pd.DataFrame, results: list[CheckResult], engine: str) -> ValidationReport:
    """Turn check results into a report: reject rows or the batch, impute, flag; count every row touched."""
    n = len(df)
    failures: list[Failure] = []
    errors: list[str] = []
    batch = False
    reject = np.zeros(n, dtype=bool)
    reasons: list[tuple[str, np.ndarray]] = []
    batch_reasons: list[str] = []
    impute: list[tuple[str, Policy, np.ndarray]] = []
    flags: list[tuple[str, np.ndarray]] = []
    for result in results:
        check = result.check
        if result.observed.startswith("error:"):
            errors.append(f"{check.expectation}({check.column}): {result.observed[6:].strip()}")
            batch = True
            continue
        if result.success:
            continue
        if not check.row_level or check.column is None:
            policy = Policy("reject_batch")
        else:
            column = contract.column(check.column)
            policy = column.on_null if check.kind == "null" else column.on_invalid
        if policy.action != "reject_batch" and result.mask is None:
            errors.append(f"{check.expectation}({check.column}): the rows that broke it are unknown")
            policy = Policy("reject_batch")
        failures.append(
            Failure(
                check.expectation,
                check.column,
                check.kind,
                result.bad_rows,
                result.sample,
                _problem(result, contract),
                str(policy),
            )
        )
        mask = result.mask
        if policy.action == "reject_batch":
            batch = True
            batch_reasons.append(f"{check.column or 'batch'}:{check.kind}")
        elif mask is None:
            continue
        elif policy.action == "reject_row":
            reject |= mask
            reasons.append((f"{check.column}:{check.kind}", mask))
        elif policy.action == "impute":
            impute.append((str(check.column), policy, mask))
        else:
            flags.append((f"{check.column}:{check.kind}", mask))
    summary = contract.summary()
    if batch:
        why = ";".join(batch_reasons + [f"error:{e}" for e in errors[:1]]) or "batch"
        rejected = df.assign(**{REJECTED_COLUMN: why})
        return ValidationReport(
            summary, engine, n, len(results), failures, True, n, 0, 0, df.iloc[0:0], df.index, errors, rejected
        )
    keep = ~reject
    frame = df[keep] if reject.any() else df.copy(deep=False)  # copy-on-write: df is never changed
    imputed = 0
    for name, policy, mask in impute:
        cells = mask[keep]
        if cells.any():
            imputed += int(cells.sum())
            values = frame[name].copy()
            if values.dtype != object and not _can_hold(values, policy.value):
                values = values.astype(object)
            values[cells] = policy.value
            frame[name] = values
    flagged = 0
    if any(f[1].any() for f in flags):
        frame[FLAGS_COLUMN] = _flag_texts(flags, keep)
        flagged = int((frame[FLAGS_COLUMN] != "").sum())
    elif any(p.action == "flag" for c in contract.columns for p in (c.on_null, c.on_invalid)):
        frame[FLAGS_COLUMN] = ""
    _restore_types(contract, frame)
    return ValidationReport(
        summary, engine, n, len(results), failures, False, int(reject.sum()), imputed, flagged, frame,
        df.index[reject], errors, df[reject].assign(**{REJECTED_COLUMN: _flag_texts(reasons, reject)}),
    )  # fmt: skip


def _can_hold(values: pd.Series, value: Any) -> bool:
    kind = getattr(values.dtype, "kind", "O")
    if kind in "iu":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "f":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "b":
        return isinstance(value, bool)
    return True


def _flag_texts(flags: list[tuple[str, np.ndarray]], keep: np.ndarray) -> np.ndarray:
    """One text per selected row: ``col:kind`` entries joined by ``;`` for flagged rows, empty otherwise."""
    kept = [(label, mask[keep]) for label, mask in flags]
    any_flag = np.zeros(int(keep.sum()), dtype=bool)
    for _, mask in kept:
        any_flag |= mask
    texts = np.full(len(any_flag), "", dtype=object)
    for pos in np.flatnonzero(any_flag):
        texts[pos] = ";".join(label for label, mask in kept if mask[pos])
    return texts


_CANONICAL = {"float": "float64", "int": "Int64", "str": "str", "bool": "boolean"}


def _restore_types(contract: Contract, frame: pd.DataFrame) -> None:
    """Give mixed (object) columns their contract type once every value left is of that type."""
    dtypes = dict(zip(frame.columns, frame.dtypes, strict=True))
    for column in contract.columns:
        if column.name not in dtypes or not is_object(dtypes[column.name]):
            continue
        values = frame[column.name]
        types = value_types(column.type)
        if all(isinstance(v, types) for v in values.dropna()):
            frame[column.name] = values.astype(_CANONICAL[column.type])
