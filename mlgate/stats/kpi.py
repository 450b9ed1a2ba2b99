"""The one KPI reader: a business KPI from a CSV file, an HTTP JSON endpoint or a SQL query, against a baseline.

In mlflow_config/monitor.yaml::

    kpis:
      - name: conversion_rate
        source: {kind: csv, path: data/kpi.csv, column: conversion_rate, time_column: ts}
        # source: {kind: http, url: https://bi.example/api/kpi, field: data.conversion_rate}
        # source: {kind: sql, url: postgresql://..., query: "SELECT avg(converted) FROM orders
        #                                              WHERE ts >= :since AND ts < :until"}
        baseline: 0.12
        threshold: 0.10        # relative change that counts as movement (10 %)
        direction: down        # down (alert when it falls), up, or both

A CSV source averages ``column`` over the rows of the window when ``time_column`` is given,
else takes the last row. A SQL query gets ``:since`` and ``:until`` (UTC, "YYYY-MM-DD HH:MM:SS")
and must return one number. A failing source is reported, never raised. Canary analysis reads its
per-route KPI through the same SQL reader, ``query_value``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlgate.config import redact_uri
from mlgate.exceptions import ConfigError

SOURCE_KINDS = ("csv", "http", "sql")


@dataclass
class KpiResult:
    """One KPI's value in the window and whether it moved beyond its threshold."""

    name: str
    source: str
    value: float | None
    baseline: float
    threshold: float
    direction: str
    change: float | None = None  # relative to the baseline, signed
    breached: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _read_csv(source: dict[str, Any], since: datetime | None, until: datetime | None, base: Path) -> float:
    import pandas as pd

    path = Path(str(source["path"]))
    frame = pd.read_csv(path if path.is_absolute() else base / path)
    column = str(source["column"])
    if column not in frame.columns:
        raise ValueError(f"column {column!r} not in {path} (columns: {', '.join(map(str, frame.columns))})")
    time_column = source.get("time_column")
    if time_column:
        ts = pd.to_datetime(frame[time_column], utc=True)
        mask = pd.Series(True, index=frame.index)
        if since is not None:
            mask &= ts >= pd.Timestamp(since)
        if until is not None:
            mask &= ts < pd.Timestamp(until)
        values = pd.to_numeric(frame.loc[mask, column], errors="coerce").dropna()
        if values.empty:
            raise ValueError(f"no rows of {path} in the window")
        return float(values.mean())
    return float(frame[column].iloc[-1])


def _read_http(source: dict[str, Any], session: Any, timeout: float) -> float:
    if session is None:
        import requests

        session = requests.Session()
    response = session.get(str(source["url"]), timeout=timeout, headers={"Accept": "application/json"})
    if response.status_code >= 400:
        raise ValueError(f"HTTP {response.status_code} from {source['url']}")
    value: Any = response.json()
    for part in str(source.get("field", "value")).split("."):
        if isinstance(value, list) and part.lstrip("-").isdigit():
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise ValueError(f"field {source.get('field', 'value')!r} not found in the response")
    return float(value)


def query_value(url: str, query: str, params: dict[str, Any]) -> float | None:
    """The one number a KPI query returns (None when it returns NULL or no row).

    Only the parameters the query names (``:name``) are bound. A failing query raises
    SQLAlchemy's error: the caller decides whether that stops it or is reported.
    """
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            bound = {k: v for k, v in params.items() if f":{k}" in query}
            value = conn.execute(sa.text(query), bound).scalar()
    finally:
        engine.dispose()
    return None if value is None else float(value)


def _read_sql(source: dict[str, Any], since: datetime | None, until: datetime | None) -> float:
    times = {"since": _fmt_time(since), "until": _fmt_time(until)}
    value = query_value(str(source["url"]), str(source["query"]), times)
    if value is None:
        raise ValueError("the query returned no value")
    return value


def read_kpi(
    spec: dict[str, Any],
    since: datetime | None = None,
    until: datetime | None = None,
    session: Any = None,
    base: Path | None = None,
    timeout: float = 10.0,
) -> KpiResult:
    """Read one KPI and compare it with its baseline; a failing source gives a result with ``error``."""
    name = str(spec.get("name", "kpi"))
    source = spec.get("source") or {}
    kind = source.get("kind")
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"KPI {name!r}: source kind {kind!r}", f"use one of {', '.join(SOURCE_KINDS)}")
    try:
        baseline = float(spec["baseline"])
        threshold = float(spec.get("threshold", 0.1))
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"KPI {name!r} needs a numeric baseline (and threshold)", "fix monitor.yaml") from None
    direction = str(spec.get("direction", "both"))
    where = source.get("path") or source.get("url") or ""
    result = KpiResult(name, f"{kind}:{redact_uri(str(where))}", None, baseline, threshold, direction)
    try:
        if kind == "csv":
            result.value = _read_csv(source, since, until, base or Path.cwd())
        elif kind == "http":
            result.value = _read_http(source, session, timeout)
        else:
            result.value = _read_sql(source, since, until)
    except Exception as exc:  # noqa: BLE001 - a broken KPI source is reported, monitoring goes on
        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        return result
    change = (result.value - baseline) / abs(baseline) if baseline else result.value
    result.change = change
    if direction == "down":
        result.breached = change <= -threshold
    elif direction == "up":
        result.breached = change >= threshold
    else:
        result.breached = abs(change) >= threshold
    return result
