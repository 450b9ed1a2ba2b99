"""Canary analysis: canary against production on the gateway's live record, judged by the policy's thresholds.

The figures (request counts, error rate, latency percentiles, PSI, the KPI query) are
mlgate.stats', the same ones monitoring reports; this module compares them and decides.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from mlgate.exceptions import MlgateError
from mlgate.serving.router import CANARY, PRODUCTION
from mlgate.serving.router import SHADOW as SHADOW_ROUTE
from mlgate.stats.drift import sample_psi
from mlgate.stats.kpi import query_value
from mlgate.stats.requests import failed, request_figures

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.release.rollout.policy import KpiSpec, RolloutPolicy

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
WAIT = INCONCLUSIVE  # the older name: too few requests is one way of being inconclusive


class RecordSource(Protocol):
    """Where the gateway's record of requests is read from (mlgate.serving.record.PredictionStore)."""

    def window(
        self,
        model: str,
        version: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        route: str | None = None,
        inputs: bool = True,
    ) -> pd.DataFrame:
        """Rows with ts, model, version, route, request_key, status, latency_ms, prediction (and the
        input features unless ``inputs`` is False)."""


@dataclass(frozen=True)
class RouteFigures:
    """Live figures of one route over the analysis window."""

    route: str
    version: str | None
    requests: int
    errors: int
    error_rate: float | None
    p99_latency_ms: float | None


@dataclass(frozen=True)
class Criterion:
    """One threshold comparison; ``passed`` is None when there was nothing to compare."""

    name: str
    value: float | None
    threshold: float
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class Analysis:
    """The verdict on one bake period: pass, fail (abort) or inconclusive (too few requests, no answer from the
    metric source, an empty or NaN figure): neither, the step bakes again up to ``max_inconclusive`` times."""

    decision: str
    reason: str
    production: RouteFigures
    canary: RouteFigures
    criteria: list[Criterion] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    source: str = "record"  # where the figures came from: record | prometheus <url>

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Analysis:
        return cls(
            decision=data["decision"],
            reason=data["reason"],
            production=RouteFigures(**data["production"]),
            canary=RouteFigures(**data["canary"]),
            criteria=[Criterion(**c) for c in data.get("criteria", [])],
            since=data.get("since"),
            until=data.get("until"),
            source=data.get("source", "record"),
        )

    def summary(self) -> str:
        parts = [f"{self.decision.upper()}: {self.reason}"]
        for c in self.criteria:
            mark = {True: "ok", False: "BREACH", None: "n/a"}[c.passed]
            parts.append(f"{c.name} {mark} ({c.detail})")
        return "; ".join(parts)


def side_rows(frame: pd.DataFrame, route: str, version: str | None = None) -> pd.DataFrame:
    """The rows of one side of the comparison: those of ``version`` when it is known, else those of ``route``.

    By version, because the route a row carries depends on the router: a gateway following the aliases
    records its canary's answers on route ``canary``, but a gateway pinned to one version (``mlgate serve
    NAME --version V``, behind HAProxy) records every answer on route ``production``. Rows of other
    versions are left out, and shadow rows (mirrored requests nobody got the answer of) never count.
    """
    if frame.empty:
        return frame
    if version is None:
        return frame[(frame["route"] == route).to_numpy()]
    mask = (frame["version"].astype(str) == str(version)).to_numpy() & (frame["route"] != SHADOW_ROUTE).to_numpy()
    return frame[mask]


def route_figures(frame: pd.DataFrame, route: str, version: str | None = None) -> RouteFigures:
    """Requests, failed requests (HTTP >= 400), error rate and p99 latency of one side (each request once);
    the side is ``version``'s rows when it is given, else ``route``'s (see ``side_rows``)."""
    return side_figures(side_rows(frame, route, version), route, version)


def side_figures(rows: pd.DataFrame, route: str, version: str | None = None) -> RouteFigures:
    """The figures of one side's rows (``version``: the side's version, else the versions found in them)."""
    figures = request_figures(rows)
    if version is None:
        version = ",".join(figures.versions) if figures.versions else None
    return RouteFigures(route, version, figures.requests, figures.errors, figures.error_rate, figures.latency_p99_ms)


def kpi_value(
    spec: KpiSpec, model: str, version: str | None, route: str, since: datetime, until: datetime
) -> float | None:
    """The business KPI of one route over the window, from the policy's SQL query (None without data)."""
    import sqlalchemy as sa

    params = {"model": model, "version": version, "route": route, "since": since, "until": until}
    try:
        return query_value(spec.url, spec.query, params)
    except sa.exc.SQLAlchemyError as exc:
        raise MlgateError(
            f"the KPI query failed: {str(exc).splitlines()[0]}",
            "fix rollout.analysis.kpi (url, query) in policy.yaml",
        ) from None


def _criterion(name: str, value: float | None, threshold: float, detail: str) -> Criterion:
    passed = None if value is None else bool(value <= threshold)
    return Criterion(name, value, threshold, passed, detail)


def analyze(
    frame: pd.DataFrame,
    policy: RolloutPolicy,
    model: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    production: str | None = None,
    canary: str | None = None,
) -> Analysis:
    """Judge the canary against production on one window of the gateway's record.

    ``production`` and ``canary``: the rollout's two versions; each side is its version's rows, whatever
    route recorded them (a pinned gateway behind HAProxy records every answer on ``production``); without
    them, the rows of routes ``production`` and ``canary``. A figure breaches when it is strictly above its
    threshold. Fewer than ``min_requests`` on either side gives ``wait``.
    """
    prod_rows, canary_rows = side_rows(frame, PRODUCTION, production), side_rows(frame, CANARY, canary)
    prod, canary_figures = side_figures(prod_rows, PRODUCTION, production), side_figures(canary_rows, CANARY, canary)
    return _judge(prod_rows, canary_rows, prod, canary_figures, policy, model, since, until)


def _judge(
    prod_rows: pd.DataFrame,
    canary_rows: pd.DataFrame,
    prod: RouteFigures,
    canary: RouteFigures,
    policy: RolloutPolicy,
    model: str,
    since: datetime | None,
    until: datetime | None,
) -> Analysis:
    window: dict[str, Any] = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    short = [f.route for f in (prod, canary) if f.requests < max(policy.min_requests, 1)]
    if short:
        reason = ", ".join(f"{f.route} {f.requests}" for f in (prod, canary))
        why = f"not enough requests yet ({reason}; need {policy.min_requests})"
        return Analysis(INCONCLUSIVE, why, prod, canary, **window)
    t = policy.thresholds
    criteria = []
    increase = (canary.error_rate or 0.0) - (prod.error_rate or 0.0)
    criteria.append(
        _criterion(
            "error rate",
            increase,
            t.max_error_rate_increase,
            f"canary {canary.error_rate:.4f} vs production {prod.error_rate:.4f}, "
            f"+{increase:.4f} allowed {t.max_error_rate_increase:g}",
        )
    )
    ratio = None
    if canary.p99_latency_ms is not None and prod.p99_latency_ms:
        ratio = canary.p99_latency_ms / prod.p99_latency_ms
    criteria.append(
        _criterion(
            "p99 latency",
            ratio,
            t.max_p99_latency_ratio,
            f"canary {canary.p99_latency_ms or 0:.1f} ms vs production {prod.p99_latency_ms or 0:.1f} ms, "
            f"ratio {ratio if ratio is not None else float('nan'):.2f} allowed {t.max_p99_latency_ratio:g}",
        )
    )
    prod_pred = prod_rows.loc[~failed(prod_rows["status"]), "prediction"] if len(prod_rows) else []
    canary_pred = canary_rows.loc[~failed(canary_rows["status"]), "prediction"] if len(canary_rows) else []
    value = sample_psi(prod_pred, canary_pred) if len(prod_pred) and len(canary_pred) else None
    criteria.append(
        _criterion(
            "prediction PSI",
            value,
            t.max_prediction_psi,
            f"PSI {value if value is not None else float('nan'):.4f} allowed {t.max_prediction_psi:g}",
        )
    )
    if t.kpi is not None and since is not None and until is not None:
        k_prod = kpi_value(t.kpi, model, prod.version, "production", since, until)
        k_can = kpi_value(t.kpi, model, canary.version, "canary", since, until)
        drop = None
        if k_prod is not None and k_can is not None and k_prod != 0:
            drop = (k_prod - k_can) / abs(k_prod) if t.kpi.higher_is_better else (k_can - k_prod) / abs(k_prod)
        criteria.append(
            _criterion(
                "business KPI",
                drop,
                t.kpi.max_relative_drop,
                f"canary {k_can} vs production {k_prod}, relative drop allowed {t.kpi.max_relative_drop:g}",
            )
        )
    breached = [c.name for c in criteria if c.passed is False]
    if breached:
        return Analysis(FAIL, "breached: " + ", ".join(breached), prod, canary, criteria, **window)
    return Analysis(PASS, "every figure within its threshold", prod, canary, criteria, **window)
