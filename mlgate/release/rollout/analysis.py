"""Canary analysis: canary against production on the gateway's live record, judged by the policy's thresholds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mlgate.exceptions import MlgateError

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.release.rollout.policy import KpiSpec, RolloutPolicy

PASS, FAIL, WAIT = "pass", "fail", "wait"
_EPS = 1e-4


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
    """The verdict on one bake period: pass, fail (abort) or wait (not enough traffic yet)."""

    decision: str
    reason: str
    production: RouteFigures
    canary: RouteFigures
    criteria: list[Criterion] = field(default_factory=list)
    since: str | None = None
    until: str | None = None

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
        )

    def summary(self) -> str:
        parts = [f"{self.decision.upper()}: {self.reason}"]
        for c in self.criteria:
            mark = {True: "ok", False: "BREACH", None: "n/a"}[c.passed]
            parts.append(f"{c.name} {mark} ({c.detail})")
        return "; ".join(parts)


def route_figures(frame: pd.DataFrame, route: str) -> RouteFigures:
    """Requests, failed requests (HTTP >= 400), error rate and p99 latency of one route.

    The record holds one row per predicted input row; each request is counted once.
    """
    rows = frame[frame["route"] == route] if len(frame) else frame
    if "request_id" in rows.columns:
        rows = rows.drop_duplicates("request_id")
    requests = len(rows)
    if requests == 0:
        return RouteFigures(route, None, 0, 0, None, None)
    status = np.asarray(rows["status"], dtype=float)
    errors = int((status >= 400).sum())
    latency = np.asarray(rows["latency_ms"], dtype=float)
    latency = latency[~np.isnan(latency)]
    p99 = float(np.percentile(latency, 99)) if latency.size else None
    versions = rows["version"].astype(str).unique()
    version = versions[0] if len(versions) == 1 else ",".join(sorted(versions))
    return RouteFigures(route, version, requests, errors, errors / requests, p99)


def _numbers(values: Any) -> np.ndarray | None:
    """The values as floats (None dropped), or None when some are not numbers (labels, lists)."""
    import pandas as pd

    series = pd.Series(values).dropna() if not isinstance(values, pd.Series) else values.dropna()
    if series.dtype.kind in "fiub":
        return series.to_numpy(dtype=float)
    try:
        return series.astype(float).to_numpy()
    except (TypeError, ValueError):
        return None


def _shares(counts: np.ndarray) -> np.ndarray:
    return np.clip(counts / counts.sum(), _EPS, None)


def psi(expected: Any, actual: Any, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` (vectorised).

    Few distinct values (or non-numeric ones, such as class labels) are compared as categories;
    otherwise on ``bins`` quantile bins of ``expected``. Empty bins are floored at 1e-4.
    """
    import pandas as pd

    exp, act = _numbers(expected), _numbers(actual)
    if exp is not None and act is not None:
        if exp.size == 0 or act.size == 0:
            raise MlgateError("PSI needs values on both sides", "wait for traffic on both routes")
        if np.unique(exp).size > 2 * bins:
            edges = np.unique(np.quantile(exp, np.linspace(0, 1, bins + 1)[1:-1]))
            e_counts = np.bincount(np.searchsorted(edges, exp, side="right"), minlength=edges.size + 1)
            a_counts = np.bincount(np.searchsorted(edges, act, side="right"), minlength=edges.size + 1)
            e, a = _shares(e_counts), _shares(a_counts)
            return float(np.sum((a - e) * np.log(a / e)))
        keys_e, keys_a = pd.Series(exp), pd.Series(act)
    else:
        keys_e = pd.Series(list(expected)).dropna().astype(str)
        keys_a = pd.Series(list(actual)).dropna().astype(str)
    if keys_e.empty or keys_a.empty:
        raise MlgateError("PSI needs values on both sides", "wait for traffic on both routes")
    count_e, count_a = keys_e.value_counts(), keys_a.value_counts()
    categories = count_e.index.union(count_a.index)
    e = _shares(count_e.reindex(categories, fill_value=0).to_numpy())
    a = _shares(count_a.reindex(categories, fill_value=0).to_numpy())
    return float(np.sum((a - e) * np.log(a / e)))


def kpi_value(
    spec: KpiSpec, model: str, version: str | None, route: str, since: datetime, until: datetime
) -> float | None:
    """The business KPI of one route over the window, from the policy's SQL query (None without data)."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(spec.url)
        with engine.connect() as conn:
            value = conn.execute(
                sa.text(spec.query),
                {"model": model, "version": version, "route": route, "since": since, "until": until},
            ).scalar()
        engine.dispose()
    except sa.exc.SQLAlchemyError as exc:
        raise MlgateError(
            f"the KPI query failed: {str(exc).splitlines()[0]}",
            "fix rollout.analysis.kpi (url, query) in policy.yaml",
        ) from None
    return None if value is None else float(value)


def _criterion(name: str, value: float | None, threshold: float, detail: str) -> Criterion:
    passed = None if value is None else bool(value <= threshold)
    return Criterion(name, value, threshold, passed, detail)


def analyze(
    frame: pd.DataFrame,
    policy: RolloutPolicy,
    model: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Analysis:
    """Judge the canary against production on one window of the gateway's record.

    A figure breaches when it is strictly above its threshold. Fewer than ``min_requests`` on
    either route gives ``wait``.
    """
    prod = route_figures(frame, "production")
    canary = route_figures(frame, "canary")
    window: dict[str, Any] = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    short = [f.route for f in (prod, canary) if f.requests < max(policy.min_requests, 1)]
    if short:
        reason = ", ".join(f"{f.route} {f.requests}" for f in (prod, canary))
        return Analysis(WAIT, f"not enough requests yet ({reason}; need {policy.min_requests})", prod, canary, **window)
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
    ok = frame["status"].astype(float) < 400
    prod_pred = frame.loc[(frame["route"] == "production") & ok, "prediction"]
    canary_pred = frame.loc[(frame["route"] == "canary") & ok, "prediction"]
    value = psi(prod_pred, canary_pred) if len(prod_pred) and len(canary_pred) else None
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
