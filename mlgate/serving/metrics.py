"""Prometheus metrics of the gateway: requests, errors, latency histogram, per model version and route.

With several worker processes (`mlgate serve --workers N`) every worker writes its values to files in
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode, set up by ``mlgate.serving.serve``)
and any worker's /metrics answers the sum over all of them: counters and histograms are totals of
the whole server. Gauges are combined per gauge (``GAUGE_MODES``): what is served and the canary
weight as the maximum over live workers, the cumulative drop and mirror counts as sums.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# How each gauge is combined over workers (prometheus-client multiprocess modes; ignored with one process).
GAUGE_MODES: dict[str, Literal["livemax", "sum"]] = {
    "mlgate_serving_version": "livemax",  # 1 while any live worker serves the version on that route
    "mlgate_canary_weight": "livemax",  # workers agree after their next poll; until then the highest
    "mlgate_records_dropped": "sum",  # counts since the server started, exited workers included
    "mlgate_shadow_mirrored": "sum",
    "mlgate_shadow_dropped": "sum",
    "mlgate_shadow_recorded_rows": "sum",
}


def shared() -> bool:
    """True when this process writes its metrics to PROMETHEUS_MULTIPROC_DIR (several workers)."""
    return values.ValueClass is not values.MutexValue


BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class GatewayMetrics:
    """One collector registry per gateway, with label children cached so the request path stays cheap."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.shared = shared()
        self.registry = CollectorRegistry()
        labels = ["model", "version", "route"]
        self.requests = Counter(
            "mlgate_requests", "Scoring requests answered", [*labels, "status"], registry=self.registry
        )
        self.errors = Counter(
            "mlgate_errors", "Scoring requests that failed", [*labels, "reason"], registry=self.registry
        )
        self.latency = Histogram(
            "mlgate_request_latency_seconds",
            "Time to answer a scoring request",
            labels,
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter("mlgate_predicted_rows", "Input rows predicted", labels, registry=self.registry)
        self.serving = Gauge(
            "mlgate_serving_version",
            "1 for each version being served",
            labels,
            registry=self.registry,
            multiprocess_mode=GAUGE_MODES["mlgate_serving_version"],
        )
        self.reloads = Counter(
            "mlgate_reloads", "Model loads after an alias moved", ["model", "result"], registry=self.registry
        )
        self.records_dropped = Gauge(
            "mlgate_records_dropped",
            "Prediction records dropped because the queue was full (since the gateway started)",
            ["model"],
            registry=self.registry,
            multiprocess_mode=GAUGE_MODES["mlgate_records_dropped"],
        ).labels(model)
        self.canary_weight = Gauge(
            "mlgate_canary_weight",
            "Percent of traffic this gateway sends to the canary version (absent when there is no canary)",
            ["model", "version"],
            registry=self.registry,
            multiprocess_mode=GAUGE_MODES["mlgate_canary_weight"],
        )
        self.shadow_mirrored = Gauge(
            "mlgate_shadow_mirrored",
            "Production requests handed to the shadow version",
            registry=self.registry,
            multiprocess_mode=GAUGE_MODES["mlgate_shadow_mirrored"],
        )
        self.shadow_dropped = Gauge(
            "mlgate_shadow_dropped",
            "Mirrored requests dropped because the shadow's queue was full or its worker was down",
            registry=self.registry,
            multiprocess_mode=GAUGE_MODES["mlgate_shadow_dropped"],
        )
        self.shadow_recorded = Gauge(
            "mlgate_shadow_recorded_rows",
            "Shadow answers written to the prediction record",
            registry=self.registry,
            multiprocess_mode=GAUGE_MODES["mlgate_shadow_recorded_rows"],
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        self._set: dict[str, set[tuple[str, ...]]] = {"serving": set(), "canary_weight": set()}

    def observe(self, version: str, route: str, status: int, seconds: float, rows: int, reason: str | None) -> None:
        """Count one answered request."""
        key = (version, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(self.model, version, route, str(status)),
                self.latency.labels(self.model, version, route),
                self.rows.labels(self.model, version, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if rows:
            children[2].inc(rows)
        if reason is not None:
            self.errors.labels(self.model, version, route, reason).inc()

    def set_serving(self, served: dict[str, str], canary_weight: float = 0.0) -> None:
        """Mark the (route -> version) pairs being served now, and the canary's share of traffic."""
        self._reset("serving", self.serving)
        for route, version in served.items():
            self._keep("serving", self.serving, (self.model, version, route)).set(1)
        self._reset("canary_weight", self.canary_weight)
        if served.get("canary") is not None:
            self._keep("canary_weight", self.canary_weight, (self.model, served["canary"])).set(canary_weight)

    def _keep(self, name: str, gauge: Gauge, labels: tuple[str, ...]) -> Any:
        self._set[name].add(labels)
        return gauge.labels(*labels)

    def _reset(self, name: str, gauge: Gauge) -> None:
        """Forget a gauge's series; with several workers they read 0 (the shared files keep every series)."""
        if self.shared:
            for labels in self._set[name]:
                gauge.labels(*labels).set(0)
        self._set[name].clear()
        gauge.clear()

    def reloaded(self, result: str) -> None:
        """Count one model load after an alias moved: ``loaded`` or ``failed``."""
        self.reloads.labels(self.model, result).inc()

    def set_shadow(self, mirrored: int, dropped: int, recorded: int) -> None:
        """The shadow mirror's counts since the gateway started (set when /metrics is read)."""
        self.shadow_mirrored.set(mirrored)
        self.shadow_dropped.set(dropped)
        self.shadow_recorded.set(recorded)

    def render(self) -> bytes:
        """The exposition text: this process's metrics, or every worker's combined when shared."""
        if not self.shared:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        return generate_latest(combined)

    def close(self) -> None:
        """A worker leaving: its live gauges stop counting (its counters and histograms stay in the totals)."""
        if self.shared:
            multiprocess.mark_process_dead(os.getpid())
