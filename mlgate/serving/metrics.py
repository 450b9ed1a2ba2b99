"""Prometheus metrics of the gateway: requests, errors, latency histogram, per model version and route."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class GatewayMetrics:
    """One collector registry per gateway, with label children cached so the request path stays cheap."""

    def __init__(self, model: str) -> None:
        self.model = model
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
            "mlgate_serving_version", "1 for each version being served", labels, registry=self.registry
        )
        self.reloads = Counter("mlgate_reloads", "Model loads after an alias moved", ["result"], registry=self.registry)
        self.records_dropped = Gauge(
            "mlgate_records_dropped", "Prediction records dropped because the queue was full", registry=self.registry
        )
        self.shadow_mirrored = Gauge(
            "mlgate_shadow_mirrored", "Production requests handed to the shadow version", registry=self.registry
        )
        self.shadow_dropped = Gauge(
            "mlgate_shadow_dropped",
            "Mirrored requests dropped because the shadow's queue was full or its worker was down",
            registry=self.registry,
        )
        self.shadow_recorded = Gauge(
            "mlgate_shadow_recorded_rows", "Shadow answers written to the prediction record", registry=self.registry
        )
        self._children: dict[tuple[Any, ...], Any] = {}

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

    def set_serving(self, served: dict[str, str]) -> None:
        """Mark the (route -> version) pairs being served now."""
        self.serving.clear()
        for route, version in served.items():
            self.serving.labels(self.model, version, route).set(1)

    def set_shadow(self, mirrored: int, dropped: int, recorded: int) -> None:
        """The shadow mirror's counts since the gateway started (set when /metrics is read)."""
        self.shadow_mirrored.set(mirrored)
        self.shadow_dropped.set(dropped)
        self.shadow_recorded.set(recorded)

    def render(self) -> bytes:
        return generate_latest(self.registry)
