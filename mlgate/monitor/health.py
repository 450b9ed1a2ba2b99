"""Service health from the gateway's record: latency p50 / p95 / p99, error rate, throughput, and a timeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlgate.stats.requests import failed, one_row_per_request, request_figures

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


def service_health(window: pd.DataFrame, window_seconds: float, buckets: int = 30) -> Health:
    """Latency quantiles, error rate (status >= 400) and throughput of a gateway window() (mlgate.stats.requests)."""
    import pandas as pd

    figures = request_figures(window)
    if figures.requests == 0:
        return Health(0, 0, 0.0, 0, None, None, None, 0.0, window_seconds)
    health = Health(
        requests=figures.requests,
        errors=figures.errors,
        error_rate=figures.error_rate or 0.0,
        successes=figures.successes,
        latency_p50_ms=figures.latency_p50_ms,
        latency_p95_ms=figures.latency_p95_ms,
        latency_p99_ms=figures.latency_p99_ms,
        throughput_rps=figures.requests / window_seconds if window_seconds > 0 else 0.0,
        window_seconds=window_seconds,
    )
    requests = one_row_per_request(window)
    if "ts" in requests.columns:
        ts = pd.to_datetime(requests["ts"], utc=True)
        step = max(1.0, window_seconds / buckets)
        start = ts.min()
        index = ((ts - start).dt.total_seconds() // step).astype(int)
        frame = pd.DataFrame({"b": index.to_numpy(), "err": failed(requests["status"]), "lat": requests["latency_ms"]})
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
