"""The rollout driver: judges each bake period (the prediction record or Prometheus) and advances, bakes again,
pauses or aborts. An inconclusive analysis bakes the step again; ``max_inconclusive`` in a row pause it for a person.

It resumes from the registry's state, so a killed ``mlgate rollout run`` continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from mlgate.registry import Registry
from mlgate.release.rollout import shadow
from mlgate.release.rollout.analysis import FAIL, PASS, RecordSource
from mlgate.release.rollout.judging import inconclusive_pause_reason, judge_step
from mlgate.release.rollout.policy import load_rollout_policy
from mlgate.release.rollout.state import (
    ABORTED,
    COMPLETING,
    PAUSED,
    RUNNING,
    Clock,
    RolloutState,
    load_state,
    record_event,
    save_state,
)
from mlgate.release.rollout.status import RolloutStatus, status
from mlgate.release.rollout.steps import abort_now, complete, next_step
from mlgate.release.rollout.watch import after_rollout
from mlgate.traffic import TrafficRouter, router_for


def reconcile(registry: Registry, state: RolloutState, router: TrafficRouter, clock: Clock = time.time) -> list[str]:
    """Make traffic match the stored state; a process killed between the two left it behind. Holds the lock."""
    notes = shadow.reconcile(registry, state, router)  # the mirroring of a plan's shadow step
    if state.active and shadow.in_shadow(state):
        return notes
    canary = registry.aliases(state.model).get(registry.settings.aliases.canary)
    if state.active and (canary != state.version or router.state().weight != state.weight):
        router.set_canary(state.version, state.weight)
        return [*notes, f"traffic set back to the stored state: v{state.version} at {state.weight:g}%"]
    if state.status == ABORTED and canary == state.version:
        router.clear_canary()
        return [*notes, f"finished the abort of v{state.version}: canary cleared"]
    if state.status == COMPLETING:
        complete(registry, state, router, clock, state.outcome or "resumed")
        return [*notes, f"finished making v{state.version} production"]
    return notes


def decide(
    registry: Registry,
    name: str,
    source: RecordSource,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
) -> RolloutStatus:
    """If the current step has baked, judge it and advance, extend, pause or abort. Else do nothing."""
    router = router_for(registry, name, router)
    policy = load_rollout_policy(registry.settings, name)
    state = load_state(registry, name)
    if state is None or state.status != RUNNING or clock() < state.decision_due:
        return status(registry, name, router=router, clock=clock)
    since = datetime.fromtimestamp(state.step_started_at, UTC)
    until = datetime.fromtimestamp(clock(), UTC)
    analysis = judge_step(state, source, policy, name, since, until)  # shadow or canary; record or Prometheus
    with registry.lock(name, "rollout decision"):
        fresh = load_state(registry, name)
        if fresh is None or fresh.status != RUNNING or fresh.step != state.step or fresh.version != state.version:
            return status(registry, name, router=router, clock=clock, notes=["the rollout changed meanwhile"])
        state = replace(fresh, last_analysis=analysis.to_dict())
        record_event(registry, state, "rollout-analysis", result=analysis.decision, reason=analysis.reason,
               analysis=analysis.to_dict())  # fmt: skip
        if analysis.decision == FAIL:
            abort_now(registry, state, router, clock, f"{shadow.stage(state)} analysis: {analysis.reason}",
                      analysis.to_dict())  # fmt: skip
        elif analysis.decision == PASS:
            passed = f"canary analysis passed at {state.weight:g}%"
            next_step(registry, state, router, clock, "shadow analysis passed" if shadow.in_shadow(state) else passed)
        elif state.extensions + 1 < policy.max_inconclusive:  # inconclusive: one more bake period
            save_state(registry, replace(state, extensions=state.extensions + 1, extended_at=clock()))
        else:
            what = f"`mlgate rollout resume {name}` (or advance, or abort)"
            why = inconclusive_pause_reason(state.extensions + 1, policy, analysis.reason, what)
            state = replace(state, status=PAUSED, outcome=why)
            save_state(registry, state)
            record_event(registry, state, "rollout-pause", reason=state.outcome)
    return status(registry, name, router=router, clock=clock, analysis=analysis)


def run(
    registry: Registry,
    name: str,
    source: RecordSource,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 5.0,
    max_seconds: float | None = None,
) -> RolloutStatus:
    """Drive the rollout until it completes, aborts or pauses (or ``max_seconds`` pass).

    Resumes from the registry's state: the current step, and when its bake period started.
    A completed rollout goes on into the post-promotion watch when rollout.yaml sets one (watch.py).
    """
    router = router_for(registry, name, router)
    started = clock()
    notes: list[str] = []
    with registry.lock(name, "rollout run: reconcile"):
        state = load_state(registry, name)
        if state is not None:
            notes = reconcile(registry, state, router, clock)
    while True:
        current = decide(registry, name, source, router=router, clock=clock)
        state = current.state
        if state is None or state.status != RUNNING:
            left = None if max_seconds is None else max(0.0, max_seconds - (clock() - started))
            current = replace(current, notes=notes + current.notes)
            return after_rollout(registry, current, source, router, clock, sleep, poll_seconds, left)
        if max_seconds is not None and clock() - started >= max_seconds:
            return replace(current, notes=[*notes, *current.notes, "stopped after --max-time; run again to continue"])
        wait = max(0.0, state.decision_due - clock())
        sleep(min(poll_seconds, wait) if wait > 0 else 0.01)
