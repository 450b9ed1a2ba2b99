"""Figures from the prediction record: requests, errors, error rate and latency percentiles of a route, version, window.

The caller reads the record (``mlgate.serving.record.PredictionStore.window``) and passes the
rows in. The record holds one row per predicted input row; rows that share a ``request_id``
are one request and are counted once. A request failed when its HTTP status is 400 or more
(or is not a number).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class RequestFigures:
    """Figures over the requests of one selection of the record; figures of no request are None."""

    requests: int
    errors: int
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    versions: tuple[str, ...] = ()

    @property
    def successes(self) -> int:
        return self.requests - self.errors

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def select(
    rows: pd.DataFrame,
    route: str | None = None,
    version: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """The rows of one route and version with ``since <= ts < until`` (each filter only when given)."""
    import pandas as pd

    if rows.empty:
        return rows
    mask = np.ones(len(rows), dtype=bool)
    if route is not None:
        mask &= (rows["route"] == route).to_numpy()
    if version is not None:
        mask &= (rows["version"].astype(str) == str(version)).to_numpy()
    if since is not None or until is not None:
        ts = pd.to_datetime(rows["ts"], utc=True)
        if since is not None:
            mask &= (ts >= _utc(since)).to_numpy()
        if until is not None:
            mask &= (ts < _utc(until)).to_numpy()
    return rows if mask.all() else rows[mask]


def one_row_per_request(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with each request once (rows sharing a ``request_id`` are one request)."""
    return rows.drop_duplicates("request_id") if "request_id" in rows.columns else rows


def failed(status: Any) -> np.ndarray:
    """Which requests failed: HTTP status >= 400, or a status that is not a number."""
    import pandas as pd

    codes = pd.to_numeric(pd.Series(status), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.asarray(~(codes < 400))


def latency_percentiles(latency_ms: Any, percentiles: tuple[float, ...] = PERCENTILES) -> list[float | None]:
    """Latency percentiles (linear interpolation) of the requests with a latency; Nones when none has."""
    import pandas as pd

    values = pd.to_numeric(pd.Series(latency_ms), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    values = values[~np.isnan(values)]
    if not values.size:
        return [None] * len(percentiles)
    return [float(v) for v in np.percentile(values, percentiles)]


def request_figures(
    rows: pd.DataFrame,
    route: str | None = None,
    version: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> RequestFigures:
    """Requests, failed requests, error rate and latency p50 / p95 / p99 of the selected rows of the record."""
    requests = one_row_per_request(select(rows, route, version, since, until))
    if requests.empty:
        return RequestFigures(0, 0, None, None, None, None)
    errors = int(failed(requests["status"]).sum())
    p50, p95, p99 = latency_percentiles(requests["latency_ms"])
    versions = tuple(sorted(requests["version"].astype(str).unique())) if "version" in requests.columns else ()
    return RequestFigures(len(requests), errors, errors / len(requests), p50, p95, p99, versions)


def _utc(moment: datetime) -> Any:
    import pandas as pd

    stamp = pd.Timestamp(moment)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
