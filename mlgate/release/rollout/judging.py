"""Which analysis judges a rollout step: the shadow's or the canary's, from the gateway's record or Prometheus.

A source that does not answer (the record's database, Prometheus) makes the step inconclusive: it
neither passes nor fails, and bakes again until ``max_inconclusive`` analyses in a row pause it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy.exc

from mlgate.release.rollout import prom_analysis, shadow
from mlgate.release.rollout.analysis import FAIL, INCONCLUSIVE, Analysis, RecordSource, RouteFigures, side_rows
from mlgate.release.rollout.realized import criterion, with_labels

if TYPE_CHECKING:
    from mlgate.release.rollout.policy import RolloutPolicy
    from mlgate.release.rollout.state import RolloutState


def judge_step(
    state: RolloutState, source: RecordSource, policy: RolloutPolicy, name: str, since: datetime, until: datetime
) -> Analysis:
    """The analysis of the state's current step over [since, until].

    The shadow step always reads the record (it pairs the two answers of each request); a canary step
    reads Prometheus when rollout.yaml's ``analysis.source`` says so.
    """
    if policy.prometheus is not None and not shadow.in_shadow(state):
        return prom_analysis.analyze_canary(
            policy.prometheus, policy, name, state.baseline, state.version, since, until
        )
    try:
        frame = source.window(name, since=since, until=until, inputs=False)
    except sqlalchemy.exc.OperationalError as exc:  # the record's database is down or unreachable
        first = str(exc.orig or exc).splitlines()[0] if str(exc) else type(exc).__name__
        empty = [
            RouteFigures(r, v, 0, 0, None, None) for r, v in (("production", state.baseline), ("canary", state.version))
        ]
        why = f"the prediction record did not answer: {first} (check the record's database, prediction_store_url)"
        return Analysis(INCONCLUSIVE, why, empty[0], empty[1], [], since.isoformat(), until.isoformat())
    verdict = shadow.judge(state, frame, policy, name, since, until)
    if policy.thresholds.realized is not None and not shadow.in_shadow(state):
        verdict = with_realized(verdict, policy, with_labels(source, frame))
    return verdict


def with_realized(analysis: Analysis, policy: RolloutPolicy, frame: Any) -> Analysis:
    """The canary analysis with the realized-metric criterion of labelled answers; a breach fails the step."""
    spec = policy.thresholds.realized
    if spec is None or analysis.decision == INCONCLUSIVE:
        return analysis
    # each side by its version when the analysis names one (a pinned gateway records every answer on production)
    sides = [side_rows(frame, f.route, f.version) for f in (analysis.production, analysis.canary)]
    added = criterion(spec, sides[0], sides[1], ("production", "canary"))
    criteria = [*analysis.criteria, added]
    if added.passed is False:
        breached = [c.name for c in criteria if c.passed is False]
        return replace(analysis, decision=FAIL, reason="breached: " + ", ".join(breached), criteria=criteria)
    return replace(analysis, criteria=criteria)


def inconclusive_pause_reason(count: int, policy: RolloutPolicy, reason: str, what: str) -> str:
    """Why a rollout or a watch paused after ``count`` inconclusive analyses in a row, and what a person does."""
    return (
        f"paused for a person: {count} inconclusive analyses in a row (max_inconclusive {policy.max_inconclusive}); "
        f"the last: {reason}. Check the metric source and traffic, then {what}"
    )
