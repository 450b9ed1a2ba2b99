"""Request validation: the data contract's fast path, then the MLflow signature, with 4xx problems per column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlgate.contracts import coerce, fast_validate
from mlgate.serving.protocol import Problem, RequestError, column_index, numeric_rows

_FLOAT = {"double": np.float64, "float": np.float32}
_INT = {"long": np.int64, "integer": np.int32}


@dataclass(frozen=True)
class Column:
    """One input column of the signature: name, MLflow type name, and whether nulls are refused."""

    name: str
    type: str
    required: bool


class Validator:
    """Checks and casts a request frame to a column-based signature (and the version's contract)."""

    def __init__(self, columns: list[Column] | None, contract: Any = None) -> None:
        self.columns = columns
        self.names = [c.name for c in columns] if columns is not None else None
        self._index = column_index(self.names) if self.names is not None else None
        self.contract = contract
        # The common case: every input is a required double; checked and cast in one numpy pass.
        self._all_double = bool(columns) and all(c.type == "double" and c.required for c in columns or [])

    @classmethod
    def for_model(cls, pyfunc_model: Any, contract: Any = None) -> Validator:
        """A validator for a loaded pyfunc model; None columns means: let MLflow enforce the schema."""
        meta = pyfunc_model.metadata
        schema = meta.get_input_schema()
        if schema is None or schema.is_tensor_spec() or not schema.has_input_names():
            return cls(None, contract)
        if getattr(meta, "_is_signature_from_type_hint", lambda: False)():
            return cls(None, contract)
        columns = []
        for spec in schema.inputs:
            type_name = getattr(getattr(spec, "type", None), "name", None)
            if type_name is None:  # objects, arrays, maps: MLflow's own enforcement handles them
                return cls(None, contract)
            columns.append(Column(spec.name, type_name, bool(getattr(spec, "required", True))))
        return cls(columns, contract)

    @property
    def fast(self) -> bool:
        """True when the gateway can validate itself and call the model without MLflow's enforcement."""
        return self.columns is not None

    def array(self, payload: Any) -> np.ndarray | None:
        """The request's rows as a float64 array in signature order when they need no check beyond
        that (every input a required double, no data contract, plain finite numbers); else None."""
        if not self._all_double or self.contract is not None:
            return None
        assert self.names is not None
        return numeric_rows(payload, self.names)

    def check(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame to predict on (columns in signature order, cast), or RequestError naming each problem."""
        if len(frame) == 0:
            raise RequestError(400, "the request holds no rows")
        if self.contract is not None:
            frame = self._contract(frame)
        if self.columns is None:
            return frame
        if self._all_double:
            fast = self._all_double_frame(frame)
            if fast is not None:
                return fast
        problems: list[Problem] = []
        present = set(frame.columns)
        missing = [c.name for c in self.columns if c.name not in present]
        for name in missing:
            problems.append(Problem(name, "missing column", len(frame)))
        if problems:
            raise _refuse(problems)
        out = {}
        for col in self.columns:
            series = frame[col.name]
            values, problem = _cast(series, col)
            if problem is not None:
                problems.append(problem)
            else:
                out[col.name] = values
        if problems:
            raise _refuse(problems)
        return pd.DataFrame(out, index=frame.index, columns=self.names)

    def _all_double_frame(self, frame: pd.DataFrame) -> pd.DataFrame | None:
        """The cast frame when every column is present, numeric and non-null; None sends it the long way."""
        assert self.names is not None
        in_order = frame.columns is self._index or frame.columns.tolist() == self.names
        if not in_order:
            try:
                frame = frame[self.names]  # reorder / drop extras (pandas indexing is costly: only when needed)
            except KeyError:
                return None
        values = frame.to_numpy()  # one block for an all-float frame: no copy
        if values.dtype.kind not in "fiu" or (values.dtype.kind == "f" and not np.isfinite(values).all()):
            return None  # strings, booleans, objects, nulls or infinities: the column-by-column path names them
        if in_order and values.dtype == np.float64:
            return frame  # already what the model takes: no second frame
        return pd.DataFrame(values.astype(np.float64, copy=False), index=frame.index, columns=self._index)

    def _contract(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Apply the contract's fast path: imputed/flagged rows go on; rejected rows refuse the request.

        A client of the scoring protocol expects one prediction per row sent, so a row the
        contract rejects is a 422 naming its column and problem, never a silently shorter answer.
        """

        # JSON has no integers-with-nulls: coerce parses by the contract's types so a bad value fails
        # its own row, not the whole column.
        report = fast_validate(self.contract, coerce(self.contract, frame))
        if report.success and not report.rejected_rows:
            return report.model_input()
        problems = [Problem(f.column, f.problem, f.bad_rows) for f in report.failures if f.policy != "flag"]
        problems += [Problem(None, e) for e in report.errors]
        contract = f"{report.contract.get('name')}@{report.contract.get('version')}"
        refusal = _refuse(problems or [Problem(None, "the data contract rejected the request")])
        refusal.message = f"the input breaks data contract {contract}: " + refusal.message.split(": ", 1)[1]
        raise refusal


def _refuse(problems: list[Problem]) -> RequestError:
    first = "; ".join(f"{p.column}: {p.problem}" if p.column else p.problem for p in problems[:5])
    return RequestError(422, f"the input does not match the model's schema: {first}", problems, "INVALID_INPUT")


def _cast(series: pd.Series, col: Column) -> tuple[Any, Problem | None]:
    nulls = int(series.isna().sum())
    if nulls and col.required:
        return None, Problem(col.name, f"null value in a non-nullable {col.type} column", nulls)
    kind = series.dtype.kind
    if col.type in _FLOAT:
        if kind in "fi" or (kind == "u"):
            values = series.to_numpy(dtype=_FLOAT[col.type], copy=False)
            infinite = int(np.isinf(values).sum()) if kind == "f" else 0
            if infinite:  # Infinity or 1e999 in JSON: no model can score it, and it is the client's input
                return None, Problem(col.name, f"infinite value in a {col.type} column", infinite)
            return values, None
        return None, _type_problem(series, col)
    if col.type in _INT:
        if kind in "iu":
            return series.to_numpy(dtype=_INT[col.type], copy=False), None
        if kind == "f" and not nulls:
            values = series.to_numpy()
            if np.all(np.mod(values, 1) == 0):
                return values.astype(_INT[col.type]), None
            bad = int(np.sum(np.mod(values, 1) != 0))
            return None, Problem(col.name, f"expected {col.type} (whole numbers), got fractional values", bad)
        return None, _type_problem(series, col)
    if col.type == "boolean":
        if kind == "b":
            return series, None
        return None, _type_problem(series, col)
    if col.type == "string":
        if kind in "OUST" and all(isinstance(v, str) for v in series.dropna()):
            return series, None
        return None, _type_problem(series, col)
    if col.type == "datetime":
        try:
            return pd.to_datetime(series), None
        except (ValueError, TypeError):
            return None, Problem(col.name, "expected datetime values", len(series))
    return series, None  # binary and others: left to the model


def _type_problem(series: pd.Series, col: Column) -> Problem:
    wrong = [v for v in series.dropna() if not _fits(v, col.type)]
    example = repr(wrong[0])[:40] if wrong else repr(series.iloc[0])[:40]
    seen = type(wrong[0]).__name__ if wrong else str(series.dtype)
    return Problem(col.name, f"expected {col.type}, got {seen} value {example}", len(wrong) or len(series))


def _fits(value: Any, type_name: str) -> bool:
    if type_name in _FLOAT:
        return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
    if type_name in _INT:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if type_name == "boolean":
        return isinstance(value, (bool, np.bool_))
    if type_name == "string":
        return isinstance(value, str)
    return True
