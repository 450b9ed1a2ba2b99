"""rollout.yaml's Prometheus analysis: the server, the query templates, custom metrics and their conditions.

Under ``analysis`` (beside the thresholds, which apply to either source)::

    analysis:
      source: prometheus            # record (default): the gateway's prediction record
      url: http://prometheus:9090   # Prometheus' base URL
      timeout: 5s
      queries:                      # optional; each overrides the default template of the gateway's metrics
        requests: sum(increase(mlgate_requests_total{model="{model}",version="{version}",route="{route}"}[{window}]))
      metrics:                      # custom metrics of the canary (production in the watch)
        - name: conversion
          query: sum(increase(orders_total{version="{version}"}[{window}])) / sum(increase(visits_total[{window}]))
          success: ">= 0.02"
          failure: "< 0.015"

Placeholders: ``{model}``, ``{version}``, ``{route}`` (production, canary), ``{window}`` (the analysis
window as a PromQL duration), ``{baseline}`` (the version compared with).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlgate.config.durations import parse_duration
from mlgate.config.files import check_keys, mapping
from mlgate.exceptions import PolicyError
from mlgate.stats.prometheus import placeholders

SOURCES = ("record", "prometheus")
PLACEHOLDERS = {"model", "version", "route", "window", "baseline"}
# By version, not route: pinned gateways behind HAProxy answer every request on their "production" route,
# and a canary's version differs from production's; mirrored (shadow) requests are left out.
_SELECT = 'model="{model}",version="{version}",route!="shadow"'
DEFAULT_QUERIES = {
    # requests answered over the window (the sample count: fewer than min_requests is inconclusive)
    "requests": f"sum(increase(mlgate_requests_total{{{_SELECT}}}[{{window}}]))",
    # failed requests (HTTP >= 400) / requests; `or vector(0)`: no error series yet means no errors
    "error_rate": f'(sum(increase(mlgate_requests_total{{{_SELECT},status=~"[45].."}}[{{window}}])) or vector(0))'
    f" / sum(increase(mlgate_requests_total{{{_SELECT}}}[{{window}}]))",
    # seconds (shown in ms)
    "p99_latency": f"histogram_quantile(0.99, sum by (le) "
    f"(increase(mlgate_request_latency_seconds_bucket{{{_SELECT}}}[{{window}}])))",
}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}  # fmt: skip
_CONDITION = re.compile(r"^\s*(?:result\s*)?(<=|>=|==|!=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Condition:
    """``result <op> number``, e.g. ``< 0.05`` (``result`` may be written or left out)."""

    text: str
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)


@dataclass(frozen=True)
class CustomMetric:
    """A PromQL query judged by its own conditions: failure holds -> fail; success holds -> pass;
    neither (with both given) -> inconclusive; only success given and it does not hold -> fail."""

    name: str
    query: str
    success: Condition | None = None
    failure: Condition | None = None


@dataclass(frozen=True)
class PrometheusSpec:
    """Where analysis reads its figures when ``analysis.source`` is ``prometheus``."""

    url: str
    timeout: float = 5.0
    queries: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_QUERIES))
    metrics: tuple[CustomMetric, ...] = ()


def _condition(raw: Any, where: str) -> Condition | None:
    if raw is None:
        return None
    match = _CONDITION.match(str(raw))
    if match is None:
        raise PolicyError(f"{where}: {raw!r} is not a condition", 'write it like "< 0.05" or "result >= 0.95"')
    return Condition(str(raw).strip(), match[1], float(match[2]))


def _template(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise PolicyError(f"{where}: must be a PromQL query (text)", "write the query as a string")
    unknown = sorted(placeholders(raw) - PLACEHOLDERS)
    if unknown:
        raise PolicyError(
            f"{where}: unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}",
            f"known: {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}",
        )
    return raw.strip()


def _metric(raw: Any, where: str) -> CustomMetric:
    item = mapping(raw, where, error=PolicyError)
    check_keys(item, {"name", "query", "success", "failure"}, where, error=PolicyError)
    if not isinstance(item.get("name"), str) or not item["name"].strip():
        raise PolicyError(f"{where}: needs a name", "add name: <what the metric measures>")
    success = _condition(item.get("success"), f"{where}.success")
    failure = _condition(item.get("failure"), f"{where}.failure")
    if success is None and failure is None:
        raise PolicyError(f"{where}: needs a success or a failure condition (or both)", 'e.g. success: "< 0.05"')
    return CustomMetric(item["name"].strip(), _template(item.get("query"), f"{where}.query"), success, failure)


def parse_source(analysis: dict[str, Any], where: str) -> PrometheusSpec | None:
    """The Prometheus settings under ``analysis`` (None: the gateway's record is the source)."""
    source = analysis.get("source", "record")
    if source not in SOURCES:
        raise PolicyError(f"{where}.source: {source!r} is not a metric source", f"use one of {', '.join(SOURCES)}")
    given = sorted(k for k in ("url", "timeout", "queries", "metrics") if analysis.get(k) is not None)
    if source == "record":
        if given:
            raise PolicyError(f"{where}: {', '.join(given)} need source: prometheus", "add source: prometheus")
        return None
    url = analysis.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        raise PolicyError(
            f"{where}.url: Prometheus' base URL is needed, got {url!r}", "e.g. url: http://prometheus:9090"
        )
    timeout = parse_duration(analysis.get("timeout", 5.0), f"{where}.timeout", error=PolicyError)
    raw_queries = mapping(analysis.get("queries"), f"{where}.queries", error=PolicyError)
    check_keys(raw_queries, DEFAULT_QUERIES, f"{where}.queries", error=PolicyError)
    queries = {**DEFAULT_QUERIES, **{k: _template(v, f"{where}.queries.{k}") for k, v in raw_queries.items()}}
    raw_metrics = analysis.get("metrics") or []
    if not isinstance(raw_metrics, list):
        raise PolicyError(f"{where}.metrics: must be a list of {{name, query, success, failure}}", "fix the file")
    metrics = tuple(_metric(m, f"{where}.metrics[{i}]") for i, m in enumerate(raw_metrics))
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise PolicyError(f"{where}.metrics: a name is used twice ({', '.join(names)})", "give each a distinct name")
    return PrometheusSpec(url.rstrip("/"), max(timeout, 0.1), queries, metrics)
