"""Service health from the gateway's record: latency p50 / p95 / p99, error rate, throughput, and a timeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Health:
    """Service figures over one window, counting each request once."""

    requests: int
    errors: int
    error_rate: float
    successes: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    throughput_rps: float
    window_seconds: float
    timeline: list[dict[str, Any]] = field(default_factory=list)  # per bucket: start, requests, error_rate, p95

    def signals(self) -> dict[str, float | None]:
        """Flat signals for alert rules (health.*)."""
        return {
            "health.requests": float(self.requests),
            "health.error_rate": self.error_rate,
            "health.latency_p50_ms": self.latency_p50_ms,
            "health.latency_p95_ms": self.latency_p95_ms,
            "health.latency_p99_ms": self.latency_p99_ms,
            "health.throughput_rps": self.throughput_rps,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _requests(window: pd.DataFrame) -> pd.DataFrame:
    """One row per request (the record holds one row per predicted input row)."""
    key = "request_id" if "request_id" in window.columns else None
    return window.drop_duplicates(key) if key else window


def service_health(window: pd.DataFrame, window_seconds: float, buckets: int = 30) -> Health:
    """Latency quantiles, error rate (status >= 400) and throughput of a gateway window()."""
    import pandas as pd

    if window.empty:
        return Health(0, 0, 0.0, 0, None, None, None, 0.0, window_seconds)
    requests = _requests(window)
    status = pd.to_numeric(requests["status"], errors="coerce").fillna(500)
    errors = int((status >= 400).sum())
    latency = pd.to_numeric(requests["latency_ms"], errors="coerce").dropna()
    q = latency.quantile([0.5, 0.95, 0.99]).tolist() if len(latency) else [None] * 3
    health = Health(
        requests=len(requests),
        errors=errors,
        error_rate=errors / len(requests),
        successes=len(requests) - errors,
        latency_p50_ms=q[0],
        latency_p95_ms=q[1],
        latency_p99_ms=q[2],
        throughput_rps=len(requests) / window_seconds if window_seconds > 0 else 0.0,
        window_seconds=window_seconds,
    )
    if "ts" in requests.columns:
        ts = pd.to_datetime(requests["ts"], utc=True)
        step = max(1.0, window_seconds / buckets)
        start = ts.min()
        index = ((ts - start).dt.total_seconds() // step).astype(int)
        frame = pd.DataFrame({"b": index.to_numpy(), "err": (status >= 400).to_numpy(), "lat": requests["latency_ms"]})
        for b, group in frame.groupby("b"):
            health.timeline.append(
                {
                    "start": (start + pd.Timedelta(seconds=float(b) * step)).isoformat(),
                    "requests": len(group),
                    "error_rate": float(group["err"].mean()),
                    "latency_p95_ms": float(pd.to_numeric(group["lat"], errors="coerce").quantile(0.95)),
                }
            )
    return health
