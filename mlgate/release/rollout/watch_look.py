"""One look of the post-promotion watch: production since the change against the previous version before it.

Both windows come from the gateway's prediction record (production route): the watched version over
the last bake period (never before the change), the previous production version before the change
(as long before it as the watch lasts, at least one bake period). The figures are mlgate.stats' and
the criteria and thresholds canary analysis' (error rate increase, p99 latency ratio, prediction PSI,
the KPI when configured); fewer than ``min_requests`` on either side gives no verdict yet (inconclusive).
With ``analysis.source: prometheus`` both windows are read from Prometheus instead (prom_analysis.py), and a
record or a Prometheus that does not answer makes the look inconclusive.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy.exc

from mlgate.release.rollout import prom_analysis
from mlgate.release.rollout.analysis import FAIL, PASS, WAIT, Criterion, RecordSource, RouteFigures, kpi_value
from mlgate.release.rollout.realized import criterion, with_labels
from mlgate.release.rollout.watch_state import Verdict, WatchState
from mlgate.stats.drift import sample_psi
from mlgate.stats.requests import failed, request_figures

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.release.rollout.policy import RolloutPolicy


def _figures(frame: pd.DataFrame) -> RouteFigures:
    f = request_figures(frame)
    version = ",".join(f.versions) if f.versions else None
    return RouteFigures("production", version, f.requests, f.errors, f.error_rate, f.latency_p99_ms)


def _criterion(name: str, value: float | None, threshold: float, detail: str) -> Criterion:
    return Criterion(name, value, threshold, None if value is None else bool(value <= threshold), detail)


def _answered(frame: pd.DataFrame) -> Any:
    return frame.loc[~failed(frame["status"]), "prediction"] if len(frame) else frame.get("prediction", [])


def judge(
    before: pd.DataFrame,
    after: pd.DataFrame,
    policy: RolloutPolicy,
    state: WatchState,
    window: tuple[datetime, datetime],
    baseline_window: tuple[datetime, datetime],
) -> Verdict:
    """Production since the change (``after``) against the previous version before it (``before``).

    Canary analysis' criteria and thresholds; a figure breaches when strictly above its threshold.
    """
    b, a = _figures(before), _figures(after)
    spans: dict[str, Any] = {
        "since": window[0].isoformat(),
        "until": window[1].isoformat(),
        "baseline_since": baseline_window[0].isoformat(),
        "baseline_until": baseline_window[1].isoformat(),
    }
    need = max(policy.min_requests, 1)
    if b.requests < need or a.requests < need:
        reason = (
            f"not enough requests yet (v{state.baseline} before the change {b.requests}, "
            f"v{state.version} since {a.requests}; need {need})"
        )
        return Verdict(WAIT, reason, b, a, **spans)
    t = policy.thresholds
    increase = (a.error_rate or 0.0) - (b.error_rate or 0.0)
    ratio = a.p99_latency_ms / b.p99_latency_ms if a.p99_latency_ms is not None and b.p99_latency_ms else None
    prev, now = _answered(before), _answered(after)
    psi = sample_psi(prev, now) if len(prev) and len(now) else None
    nan = float("nan")
    criteria = [
        _criterion(
            "error rate",
            increase,
            t.max_error_rate_increase,
            f"v{state.version} {a.error_rate:.4f} vs v{state.baseline} {b.error_rate:.4f} before, "
            f"+{increase:.4f} allowed {t.max_error_rate_increase:g}",
        ),
        _criterion(
            "p99 latency",
            ratio,
            t.max_p99_latency_ratio,
            f"v{state.version} {a.p99_latency_ms or 0:.1f} ms vs v{state.baseline} {b.p99_latency_ms or 0:.1f} ms "
            f"before, ratio {ratio if ratio is not None else nan:.2f} allowed {t.max_p99_latency_ratio:g}",
        ),
        _criterion(
            "prediction PSI",
            psi,
            t.max_prediction_psi,
            f"PSI {psi if psi is not None else nan:.4f} against v{state.baseline}'s predictions before the change, "
            f"allowed {t.max_prediction_psi:g}",
        ),
    ]
    if t.kpi is not None:
        k_before = kpi_value(t.kpi, state.model, state.baseline, "production", *baseline_window)
        k_after = kpi_value(t.kpi, state.model, state.version, "production", *window)
        drop = None
        if k_before is not None and k_after is not None and k_before != 0:
            drop = (k_before - k_after) / abs(k_before)
            drop = drop if t.kpi.higher_is_better else -drop
        criteria.append(
            _criterion(
                "business KPI",
                drop,
                t.kpi.max_relative_drop,
                f"v{state.version} {k_after} vs v{state.baseline} {k_before} before, "
                f"relative drop allowed {t.kpi.max_relative_drop:g}",
            )
        )
    breached = [c.name for c in criteria if c.passed is False]
    if breached:
        return Verdict(FAIL, "breached: " + ", ".join(breached), b, a, criteria, **spans)
    return Verdict(PASS, "every figure within its threshold", b, a, criteria, **spans)


def look(
    source: RecordSource, state: WatchState, policy: RolloutPolicy, now: float, cache: dict[Any, Any] | None = None
) -> Verdict:
    """Read both windows from the record (or Prometheus) and judge them (``cache`` keeps the record's baseline,
    which never changes)."""
    cache = {} if cache is None else cache
    b_since = datetime.fromtimestamp(state.since - max(state.seconds, policy.bake_seconds), UTC)
    b_until = datetime.fromtimestamp(state.since, UTC)
    since = datetime.fromtimestamp(max(state.since, now - policy.bake_seconds), UTC)
    until = datetime.fromtimestamp(now, UTC)
    spans = {"since": since.isoformat(), "until": until.isoformat(), "baseline_since": b_since.isoformat(),
             "baseline_until": b_until.isoformat()}  # fmt: skip
    if policy.prometheus is not None:
        sides = prom_analysis.watch_sides(
            state.model, state.version, state.baseline, (since, until), (b_since, b_until)
        )
        decision, reason, before, after, criteria = prom_analysis.judge(policy.prometheus, policy, sides)
        return Verdict(decision, reason, before, after, criteria, **spans, source=f"prometheus {policy.prometheus.url}")
    try:
        return _look_record(source, state, policy, cache, (since, until), (b_since, b_until))
    except sqlalchemy.exc.OperationalError as exc:  # the record's database is down or unreachable
        empty = [RouteFigures("production", v, 0, 0, None, None) for v in (state.baseline, state.version)]
        why = f"the prediction record did not answer: {str(exc.orig or exc).splitlines()[0]}"
        return Verdict(WAIT, why, empty[0], empty[1], [], **spans)


def _look_record(
    source: RecordSource, state: WatchState, policy: RolloutPolicy, cache: dict[Any, Any],
    window: tuple[datetime, datetime], baseline_window: tuple[datetime, datetime],
) -> Verdict:  # fmt: skip
    (since, until), (b_since, b_until) = window, baseline_window
    key = (state.model, state.baseline, state.since)
    if key not in cache:
        cache.clear()
        cache[key] = source.window(
            state.model, version=state.baseline, since=b_since, until=b_until, route="production", inputs=False
        )
    after = source.window(
        state.model, version=state.version, since=since, until=until, route="production", inputs=False
    )
    verdict = judge(cache[key], after, policy, state, (since, until), (b_since, b_until))
    spec = policy.thresholds.realized
    if spec is None or verdict.decision == WAIT:
        return verdict
    names = (f"v{state.baseline} before the change", f"v{state.version}")
    added = criterion(spec, with_labels(source, cache[key]), with_labels(source, after), names)
    criteria = [*verdict.criteria, added]
    if added.passed is False:
        reason = "breached: " + ", ".join(c.name for c in criteria if c.passed is False)
        return replace(verdict, decision=FAIL, reason=reason, criteria=criteria)
    return replace(verdict, criteria=criteria)
