"""Canary analysis and watch looks from Prometheus: the gateway's metrics as scraped, read by templated PromQL.

The same criteria and thresholds as on the gateway's record (error rate increase, p99 latency ratio, the
KPI when configured; no prediction PSI: predictions are not metrics), plus rollout.yaml's custom metrics.
A figure Prometheus cannot give (an empty result, NaN), fewer than ``min_requests`` requests, or a
Prometheus that does not answer make the analysis inconclusive, never a pass; a breach fails it, even
when another figure is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import MetricSourceUnavailable
from mlgate.release.rollout.analysis import FAIL, INCONCLUSIVE, PASS, Analysis, Criterion, RouteFigures, kpi_value
from mlgate.stats.prometheus import Prometheus, duration, finite, render

if TYPE_CHECKING:
    from mlgate.release.rollout.policy import RolloutPolicy
    from mlgate.release.rollout.prom_policy import CustomMetric, PrometheusSpec

NAN = float("nan")


@dataclass(frozen=True)
class Side:
    """What one side of a comparison is: a version on a route, over [since, until]."""

    model: str
    version: str
    route: str
    since: datetime
    until: datetime
    baseline: str  # the version compared with (the {baseline} placeholder)
    label: str  # how the reason names it: "canary", "v3 since the change"

    def values(self) -> dict[str, Any]:
        window = duration((self.until - self.since).total_seconds())
        return {"model": self.model, "version": self.version, "route": self.route, "window": window,
                "baseline": self.baseline}  # fmt: skip


class Reader:
    """Runs the spec's queries for one side; remembers which queries gave nothing usable."""

    def __init__(self, spec: PrometheusSpec) -> None:
        self.spec = spec
        self.prom = Prometheus(spec.url, spec.timeout)
        self.missing: list[str] = []

    def value(self, template: str, side: Side, name: str) -> float | None:
        raw = self.prom.value(render(template, **side.values()), at=side.until.timestamp(), name=name)
        value = finite(raw)
        if value is None:
            self.missing.append(f"{name} of {side.label} ({'empty' if raw is None else raw})")
        return value

    def requests(self, side: Side) -> float | None:
        return self.value(self.spec.queries["requests"], side, "requests")

    def figures(self, side: Side, requests: float | None) -> RouteFigures:
        rate = self.value(self.spec.queries["error_rate"], side, "error_rate")
        p99 = self.value(self.spec.queries["p99_latency"], side, "p99_latency")
        count = round(requests or 0)
        errors = round(rate * count) if rate is not None else 0
        return RouteFigures(side.route, side.version, count, errors, rate, None if p99 is None else p99 * 1000)


def _at_most(name: str, value: float | None, threshold: float, detail: str) -> Criterion:
    return Criterion(name, value, threshold, None if value is None else bool(value <= threshold), detail)


def custom(reader: Reader, metric: CustomMetric, side: Side) -> Criterion:
    """A custom metric of ``side``: passed True/False, or None when inconclusive (no number, or between)."""
    value = reader.value(metric.query, side, metric.name)
    shown = "no data" if value is None else f"{value:.6g}"
    conditions = ", ".join(f"{k} {c.text}" for k, c in (("success", metric.success), ("failure", metric.failure)) if c)
    condition = metric.failure or metric.success
    threshold = condition.threshold if condition is not None else NAN
    passed: bool | None = None
    if value is not None:
        if metric.failure is not None and metric.failure.holds(value):
            passed = False
        elif metric.success is not None:
            if metric.success.holds(value):
                passed = True
            elif metric.failure is None:
                passed = False  # only a success condition: not meeting it fails
            else:
                reader.missing.append(f"{metric.name} of {side.label} ({shown}: neither condition holds)")
        else:
            passed = True  # only a failure condition, and it does not hold
    return Criterion(metric.name, value, threshold, passed, f"{side.label} {shown} ({conditions})")


def compare(
    reader: Reader, base: RouteFigures, new: RouteFigures, policy: RolloutPolicy, sides: tuple[Side, Side]
) -> tuple[str, str, list[Criterion]]:
    """The decision, its reason and the criteria of ``new`` against ``base`` (breach > missing figure > pass)."""
    t = policy.thresholds
    b, n = sides
    increase = None if new.error_rate is None or base.error_rate is None else new.error_rate - base.error_rate
    ratio = None
    if new.p99_latency_ms is not None and base.p99_latency_ms:
        ratio = new.p99_latency_ms / base.p99_latency_ms

    def shown(value: float | None, unit: str = "") -> str:
        return "no data" if value is None else f"{value:.4f}{unit}" if not unit else f"{value:.1f}{unit}"

    criteria = [
        _at_most("error rate", increase, t.max_error_rate_increase,
                 f"{n.label} {shown(new.error_rate)} vs {b.label} {shown(base.error_rate)}, "
                 f"increase allowed {t.max_error_rate_increase:g}"),
        _at_most("p99 latency", ratio, t.max_p99_latency_ratio,
                 f"{n.label} {shown(new.p99_latency_ms, ' ms')} vs {b.label} {shown(base.p99_latency_ms, ' ms')}, "
                 f"ratio {ratio if ratio is not None else NAN:.2f} allowed {t.max_p99_latency_ratio:g}"),
    ]  # fmt: skip
    criteria += [custom(reader, m, n) for m in reader.spec.metrics]
    if t.kpi is not None:
        k_base = kpi_value(t.kpi, b.model, b.version, b.route, b.since, b.until)
        k_new = kpi_value(t.kpi, n.model, n.version, n.route, n.since, n.until)
        drop = None
        if k_base is not None and k_new is not None and k_base != 0:
            drop = (k_base - k_new) / abs(k_base) * (1 if t.kpi.higher_is_better else -1)
        criteria.append(_at_most("business KPI", drop, t.kpi.max_relative_drop,
                                 f"{n.label} {k_new} vs {b.label} {k_base}, relative drop allowed "
                                 f"{t.kpi.max_relative_drop:g}"))  # fmt: skip
    breached = [c.name for c in criteria if c.passed is False]
    if breached:
        return FAIL, "breached: " + ", ".join(breached), criteria
    if reader.missing:
        return INCONCLUSIVE, "no usable figure from Prometheus for " + "; ".join(reader.missing), criteria
    return PASS, "every figure within its threshold", criteria


def judge(
    spec: PrometheusSpec, policy: RolloutPolicy, sides: tuple[Side, Side]
) -> tuple[str, str, RouteFigures, RouteFigures, list[Criterion]]:
    """Read both sides and compare them; too few requests or a silent Prometheus is inconclusive."""
    reader = Reader(spec)
    empty = tuple(RouteFigures(s.route, s.version, 0, 0, None, None) for s in sides)
    try:
        counts = [reader.requests(s) for s in sides]
        if reader.missing:
            why = "no samples: " + "; ".join(reader.missing)
            return INCONCLUSIVE, why, empty[0], empty[1], []
        short = [f"{s.label} {round(c or 0)}" for s, c in zip(sides, counts, strict=True)]
        if any(round(c or 0) < max(policy.min_requests, 1) for c in counts):
            why = f"too few samples yet ({', '.join(short)} requests; need {policy.min_requests})"
            return INCONCLUSIVE, why, empty[0], empty[1], []
        base, new = (reader.figures(s, c) for s, c in zip(sides, counts, strict=True))
        decision, reason, criteria = compare(reader, base, new, policy, sides)
    except MetricSourceUnavailable as exc:
        return INCONCLUSIVE, f"{exc.message} ({exc.hint})", empty[0], empty[1], []
    return decision, reason, base, new, criteria


def analyze_canary(
    spec: PrometheusSpec, policy: RolloutPolicy, model: str, production: str, canary: str,
    since: datetime, until: datetime,
) -> Analysis:  # fmt: skip
    """The canary step's analysis from Prometheus: canary against production over the same window."""
    sides = (
        Side(model, production, "production", since, until, canary, "production"),
        Side(model, canary, "canary", since, until, production, "canary"),
    )
    decision, reason, prod, can, criteria = judge(spec, policy, sides)
    return Analysis(decision, reason, prod, can, criteria, since.isoformat(), until.isoformat(),
                    source=f"prometheus {spec.url}")  # fmt: skip


def watch_sides(
    model: str, version: str, baseline: str, window: tuple[datetime, datetime], before: tuple[datetime, datetime]
) -> tuple[Side, Side]:
    """The watch's two sides: the previous version before the change, the watched one since (production route)."""
    return (
        Side(model, baseline, "production", *before, version, f"v{baseline} before the change"),
        Side(model, version, "production", *window, baseline, f"v{version} since"),
    )
