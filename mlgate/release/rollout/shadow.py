"""The shadow step of a rollout: its traffic moves, and the analysis of the candidate's answers to mirrored requests.

During a plan's first step ``shadow`` the candidate answers no one: the gateways mirror a share of
production requests to it after answering them, and record its answers with route ``shadow`` under
the same request id. The analysis pairs the two answers of each request and judges the candidate on
the same requests: agreement (classification) or the error distribution (regression), prediction PSI,
error rate and p99 latency against production. It returns the canary's Analysis, so the driver
advances, extends, pauses or aborts a shadow step exactly like a canary step.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.release.rollout.analysis import (
    FAIL,
    PASS,
    SHADOW_ROUTE,
    WAIT,
    Analysis,
    Criterion,
    analyze,
    side_figures,
)
from mlgate.release.rollout.policy import SHADOW, load_rollout_policy
from mlgate.stats.drift import NUMERIC_BINS, category_key, sample_psi
from mlgate.stats.requests import failed

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.registry import Registry
    from mlgate.release.rollout.policy import RolloutPolicy
    from mlgate.release.rollout.state import RolloutState
    from mlgate.traffic import TrafficRouter

PRODUCTION_ROUTE = "production"


# --- the plan and its traffic ------------------------------------------------------------------------------
def in_shadow(state: RolloutState) -> bool:
    """True while the rollout is at its shadow step (the candidate gets mirrored requests, no traffic)."""
    return state.steps[state.step] == SHADOW


def stage(state: RolloutState) -> str:
    """What the candidate is at this step: ``shadow`` or ``canary``."""
    return "shadow" if in_shadow(state) else "canary"


def move(registry: Registry, router: TrafficRouter, state: RolloutState) -> None:
    """Make traffic match the state's step: mirror to the candidate at the shadow step, else its canary weight
    (leaving the shadow step stops the mirroring once the canary is set)."""
    if in_shadow(state):
        router.set_shadow(state.version, load_rollout_policy(registry.settings, state.model).shadow.share)
        return
    router.set_canary(state.version, state.weight)
    if state.steps[0] == SHADOW and state.step == 1:
        router.clear_shadow()


def leave(router: TrafficRouter, state: RolloutState) -> None:
    """Take the candidate out of the traffic it has at its step (an abort): the shadow, else the canary."""
    if in_shadow(state):
        router.clear_shadow()
    else:
        router.clear_canary()


def end(router: TrafficRouter, state: RolloutState) -> None:
    """Stop mirroring before a completion straight from the shadow step (a plan ``shadow,100``)."""
    if in_shadow(state):
        router.clear_shadow()


def reconcile(registry: Registry, state: RolloutState, router: TrafficRouter) -> list[str]:
    """Put the shadow back where the stored state says (a process killed between two writes left it behind).
    Costs a read only for plans that start with a shadow step. Holds the lock."""
    if state.steps[0] != SHADOW:
        return []
    seen = router.state()
    if state.active and in_shadow(state):
        share = load_rollout_policy(registry.settings, state.model).shadow.share
        if seen.shadow != state.version or abs(seen.shadow_share - share) > 1e-9:
            router.set_shadow(state.version, share)
            return [f"traffic set back to the stored state: v{state.version} mirrored {share:g}%"]
        return []
    if seen.shadow == state.version:
        router.clear_shadow()
        return [f"stopped mirroring to v{state.version}: the rollout is past its shadow step"]
    return []


# --- the analysis ------------------------------------------------------------------------------------------
def judge(
    state: RolloutState,
    frame: pd.DataFrame,
    policy: RolloutPolicy,
    model: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Analysis:
    """The analysis of the state's current step: the shadow analysis at the shadow step, else the canary's."""
    if in_shadow(state):
        return analyze_shadow(frame, policy, since, until)
    return analyze(frame, policy, model, since, until, production=state.baseline, canary=state.version)


def paired(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The production and shadow rows of the requests both answered, and their rows side by side.

    The pairs join on (request_id, row within the request) and carry ``status_p``, ``status_s``,
    ``prediction_p`` and ``prediction_s``.
    """
    routes = frame["route"].to_numpy()
    prod = frame[routes == PRODUCTION_ROUTE]
    shadow = frame[routes == SHADOW_ROUTE]
    common = np.intersect1d(prod["request_id"].astype(str).unique(), shadow["request_id"].astype(str).unique())
    prod = prod[prod["request_id"].astype(str).isin(common)]
    shadow = shadow[shadow["request_id"].astype(str).isin(common)]
    columns = ["request_id", "row", "status", "prediction"]
    sides = [side.assign(row=side.groupby("request_id").cumcount())[columns] for side in (prod, shadow)]
    pairs = sides[0].merge(sides[1], on=["request_id", "row"], suffixes=("_p", "_s"))
    return prod, shadow, pairs


def _at_most(name: str, value: float | None, threshold: float, detail: str) -> Criterion:
    return Criterion(name, value, threshold, None if value is None else bool(value <= threshold), detail)


def _regression(prod: list[Any], shadow: list[Any]) -> np.ndarray | None:
    """Both sides as floats when they are numbers with more distinct values than a classifier has, else None."""
    try:
        p, s = np.asarray(prod, dtype=float), np.asarray(shadow, dtype=float)
    except (TypeError, ValueError):
        return None
    if p.ndim != 1 or np.unique(p).size <= 2 * NUMERIC_BINS:
        return None
    return np.vstack([p, s])


def answers(pairs: pd.DataFrame, policy: RolloutPolicy) -> Criterion:
    """Agreement rate (classification) or the p95 relative error (regression) of the rows both answered."""
    ok = ~failed(pairs["status_p"]) & ~failed(pairs["status_s"])
    prod, shadow = pairs["prediction_p"][ok].tolist(), pairs["prediction_s"][ok].tolist()
    rules = policy.shadow
    if not prod:
        return Criterion("agreement", None, rules.min_agreement, None, "no row answered by both")
    numbers = _regression(prod, shadow)
    if numbers is None:
        same = float(np.mean([category_key(a) == category_key(b) for a, b in zip(prod, shadow, strict=True)]))
        return Criterion(
            "agreement",
            same,
            rules.min_agreement,
            bool(same >= rules.min_agreement),
            f"{same:.4f} of {len(prod)} rows answered the same, at least {rules.min_agreement:g} required",
        )
    error = numbers[1] - numbers[0]
    scale = float(np.mean(np.abs(numbers[0]))) or 1.0
    p95 = float(np.percentile(np.abs(error), 95)) / scale
    return _at_most(
        "error p95",
        p95,
        rules.max_error_p95,
        f"p95 |shadow - production| / mean |production| {p95:.4f} over {len(prod)} rows "
        f"(mean error {float(np.mean(error)):+.4g}), allowed {rules.max_error_p95:g}",
    )


def analyze_shadow(
    frame: pd.DataFrame, policy: RolloutPolicy, since: datetime | None = None, until: datetime | None = None
) -> Analysis:
    """Judge the shadow against production on the requests both answered in one window of the gateway's record.

    Fewer than ``min_requests`` mirrored requests answered by both gives ``wait``; a figure past its
    threshold gives ``fail``.
    """
    window: dict[str, Any] = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    prod_rows, shadow_rows, pairs = paired(frame)
    prod, shadow = side_figures(prod_rows, PRODUCTION_ROUTE), side_figures(shadow_rows, SHADOW_ROUTE)
    all_prod = int(frame.loc[frame["route"] == PRODUCTION_ROUTE, "request_id"].nunique()) if len(frame) else 0
    mirrored = f"{shadow.requests} of {all_prod} production requests mirrored and answered"
    if shadow.requests < max(policy.min_requests, 1):
        return Analysis(WAIT, f"not enough mirrored requests yet ({mirrored}; need {policy.min_requests})",
                        prod, shadow, **window)  # fmt: skip
    t, rules = policy.thresholds, policy.shadow
    max_errors = t.max_error_rate_increase if rules.max_error_rate_increase is None else rules.max_error_rate_increase
    max_ratio = t.max_p99_latency_ratio if rules.max_p99_latency_ratio is None else rules.max_p99_latency_ratio
    max_psi = t.max_prediction_psi if rules.max_prediction_psi is None else rules.max_prediction_psi
    increase = (shadow.error_rate or 0.0) - (prod.error_rate or 0.0)
    ratio = None
    if shadow.p99_latency_ms is not None and prod.p99_latency_ms:
        ratio = shadow.p99_latency_ms / prod.p99_latency_ms
    ok = ~failed(pairs["status_p"]) & ~failed(pairs["status_s"])
    both_p, both_s = pairs["prediction_p"][ok].dropna(), pairs["prediction_s"][ok].dropna()
    psi = sample_psi(both_p, both_s) if len(both_p) and len(both_s) else None
    criteria = [
        answers(pairs, policy),
        _at_most("error rate", increase, max_errors,
                 f"shadow {shadow.error_rate:.4f} vs production {prod.error_rate:.4f} on the same requests, "
                 f"+{increase:.4f} allowed {max_errors:g}"),
        _at_most("p99 latency", ratio, max_ratio,
                 f"shadow {shadow.p99_latency_ms or 0:.1f} ms vs production {prod.p99_latency_ms or 0:.1f} ms, "
                 f"ratio {ratio if ratio is not None else float('nan'):.2f} allowed {max_ratio:g}"),
        _at_most("prediction PSI", psi, max_psi,
                 f"PSI {psi if psi is not None else float('nan'):.4f} on the same rows, allowed {max_psi:g}"),
    ]  # fmt: skip
    breached = [c.name for c in criteria if c.passed is False]
    if breached:
        return Analysis(FAIL, f"breached: {', '.join(breached)} ({mirrored})", prod, shadow, criteria, **window)
    return Analysis(PASS, f"every figure within its threshold ({mirrored})", prod, shadow, criteria, **window)
