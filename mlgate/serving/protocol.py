"""MLflow's scoring protocol: turn a request body (JSON formats or CSV) into a DataFrame, or a 4xx."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


@dataclass
class Problem:
    """One thing wrong with a request: the column (if any), what is wrong, and how many rows."""

    column: str | None
    problem: str
    rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "problem": self.problem, "rows": self.rows}


@dataclass
class RequestError(Exception):
    """A request the gateway refuses: HTTP status, an MLflow-style error code, and the problems."""

    status: int
    message: str
    problems: list[Problem] = field(default_factory=list)
    error_code: str = "BAD_REQUEST"

    def body(self) -> dict[str, Any]:
        return {
            "error_code": self.error_code,
            "message": self.message,
            "problems": [p.to_dict() for p in self.problems],
        }


def bad(message: str, status: int = 400, code: str = "BAD_REQUEST") -> RequestError:
    return RequestError(status, message, error_code=code)


def parse(body: bytes, content_type: str, columns: list[str] | None) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """The input rows and the optional ``params`` of a scoring request.

    ``columns`` (the signature's input names, in order) lets positional rows (``instances`` /
    ``inputs`` as lists of lists) be named.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "text/csv":
        return _parse_csv(body), None
    if kind != "application/json":
        raise RequestError(
            415,
            f"unsupported content type {content_type or '(none)'!r}: send application/json or text/csv",
            error_code="UNSUPPORTED_MEDIA_TYPE",
        )
    return parse_payload(decode_json(body), columns)


def decode_json(body: bytes) -> Any:
    """The JSON value of a request body, or a 400 saying why it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise bad("the JSON body is nested too deeply to be rows of a table") from None


def parse_payload(payload: Any, columns: list[str] | None) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """The input rows and ``params`` of a decoded JSON scoring request (see ``parse``)."""
    if not isinstance(payload, dict):
        raise bad(f"the JSON body must be an object with one of the keys {', '.join(FORMATS)}")
    present = [k for k in FORMATS if k in payload]
    if len(present) != 1:
        found = ", ".join(sorted(payload)) or "none"
        raise bad(f"the JSON body must hold exactly one of {', '.join(FORMATS)} (found keys: {found})")
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise bad("'params' must be a JSON object")
    key = present[0]
    data = payload[key]
    if key == "dataframe_split":
        frame = _from_split(data)
    elif key == "dataframe_records":
        frame = _from_records(data, key)
    else:
        frame = _from_instances(data, key, columns)
    if not frame.columns.is_unique:
        twice = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise bad(f"{key}: duplicate column name(s) {', '.join(twice)[:200]}")
    return frame, params


def _from_split(data: Any) -> pd.DataFrame:
    if not isinstance(data, dict) or "data" not in data:
        raise bad("dataframe_split must be an object with 'columns' and 'data'")
    rows = data["data"]
    names = data.get("columns")
    if not isinstance(rows, list) or (names is not None and not isinstance(names, list)):
        raise bad("dataframe_split: 'data' must be a list of rows and 'columns' a list of names")
    if names is not None and any(isinstance(n, (dict, list)) for n in names):
        raise bad("dataframe_split: each of 'columns' must be a name, not an object or a list")
    if names is not None:
        width = len(names)
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                got = len(row) if isinstance(row, list) else "no"
                raise bad(f"dataframe_split: row {i} has {got} values, expected {width}")
    return _frame_of_rows(rows, names, "dataframe_split")


_INDEXES: dict[tuple[Any, ...], pd.Index] = {}


def column_index(names: list[Any]) -> pd.Index:
    """One shared, immutable column Index per list of names: building one costs more than the 1-row frame."""
    key = tuple(names)
    index = _INDEXES.get(key)
    if index is None:
        if len(_INDEXES) >= 256:  # clients sending ever-new column sets must not grow this without bound
            _INDEXES.clear()
        index = _INDEXES[key] = pd.Index(list(key))
    return index


def _frame_of_rows(rows: list[Any], names: list[str] | None, key: str) -> pd.DataFrame:
    """A frame from rows of values; all-numeric rows go through one numpy array (much cheaper)."""
    if rows and names is not None:
        try:
            values = np.array(rows)
        except (ValueError, TypeError):
            values = None
        if (
            values is not None
            and values.ndim == 2
            and values.dtype.kind in "fi"
            and not any(isinstance(v, bool) for row in rows for v in row)
        ):
            try:
                return pd.DataFrame(values, columns=column_index(names))
            except TypeError:  # unhashable names: the general path names the problem
                pass
    try:
        return pd.DataFrame(rows, columns=names)
    except (ValueError, TypeError) as exc:
        raise bad(f"{key} cannot be read: {exc}") from None


def _from_records(data: Any, key: str) -> pd.DataFrame:
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise bad(f"{key} must be a list of objects (one per row)")
    return pd.DataFrame.from_records(data)


def _from_instances(data: Any, key: str, columns: list[str] | None) -> pd.DataFrame:
    if isinstance(data, dict):
        try:
            frame = pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in data.items()})
        except ValueError as exc:
            raise bad(f"{key}: columns must have the same length ({exc})") from None
        return frame
    if not isinstance(data, list) or not data:
        raise bad(f"{key} must be a non-empty list of rows or an object of columns")
    if all(isinstance(r, dict) for r in data):
        return pd.DataFrame.from_records(data)
    if all(isinstance(r, list) for r in data):
        if columns is None:
            raise bad(f"{key}: positional rows need a model signature to name the columns; send objects")
        for i, row in enumerate(data):
            if len(row) != len(columns):
                raise bad(
                    f"{key}: row {i} has {len(row)} values, the model takes {len(columns)} ({', '.join(columns)})"
                )
        return _frame_of_rows(data, columns, key)
    raise bad(f"{key} must be a list of objects or a list of lists, not a mix")


def numeric_rows(payload: Any, names: list[str]) -> np.ndarray | None:
    """The rows of a decoded request as one float64 array, when they are nothing but finite numbers
    given in the signature's column order (``dataframe_split`` naming exactly ``names``, or positional
    ``instances`` / ``inputs``) without ``params``; None otherwise.

    The gateway's fast path: such a request passes every check of ``parse`` and ``Validator.check``
    unchanged, so it skips the DataFrame. Anything else (other formats, other column orders, nulls,
    booleans, strings, infinities, ragged rows) returns None and takes the general path, which
    names each problem.
    """
    if type(payload) is not dict or len(payload) != 1:
        return None
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        if type(split) is not dict or split.get("columns") != names:
            return None
        rows = split.get("data")
    else:
        rows = payload.get("instances", payload.get("inputs"))
    if type(rows) is not list or not rows:
        return None
    try:
        values = np.array(rows)
    except (ValueError, TypeError):
        return None
    if values.ndim != 2 or values.shape[1] != len(names) or values.dtype.kind not in "fi":
        return None
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            return None
        if any(type(v) is bool for row in rows for v in row):  # True and 1.0 make a float array
            return None
    else:
        if any(type(v) is bool for row in rows for v in row):
            return None
        values = values.astype(np.float64)
    return values


def _parse_csv(body: bytes) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(body))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise bad(f"the CSV body cannot be read: {str(exc).splitlines()[0]}") from None


def to_jsonable(predictions: Any) -> Any:
    """Predictions in MLflow's response shape: a list (records for a DataFrame)."""
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if hasattr(predictions, "tolist"):
        return predictions.tolist()
    if isinstance(predictions, (list, tuple)):
        return list(predictions)
    return predictions
