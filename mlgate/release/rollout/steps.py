"""The steps of a canary rollout: start, advance, pause, resume, abort, and completion into production.

Every step writes the rollout's state before traffic moves (a killed process is resumed from it),
moves traffic only through the TrafficRouter, and is recorded as an event.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mlgate.alerts import Alert, AlertRouter
from mlgate.exceptions import GateFailed, MlgateError, TransitionRefused, UsageError
from mlgate.registry import keys, states
from mlgate.release.gating import ensure_gate
from mlgate.release.production import enter_production
from mlgate.release.rollout import shadow
from mlgate.release.rollout.policy import load_rollout_policy, parse_steps
from mlgate.release.rollout.state import (
    ABORT_SIGNAL,
    ABORTED,
    COMPLETED,
    COMPLETING,
    PAUSED,
    RUNNING,
    Clock,
    RolloutState,
    active_rollout,
    load_state,
    record_event,
    save_state,
)
from mlgate.release.rollout.status import RolloutStatus, status
from mlgate.traffic import router_for

if TYPE_CHECKING:
    from mlgate.registry import Registry
    from mlgate.traffic import TrafficRouter


def start(
    registry: Registry,
    name: str,
    version: str,
    steps: str | list[float] | None = None,
    bake_seconds: float | None = None,
    reason: str | None = None,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
    force: bool = False,
) -> RolloutStatus:
    """Make ``version`` the canary at the first step's weight. It must pass the canary gate, unless
    ``force`` with a ``reason`` (recorded as forced)."""
    version = str(version)
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason", 'say why, e.g. --reason "gate records missing, approved by X"')
    policy = load_rollout_policy(registry.settings, name)
    plan = list(parse_steps(steps, "--steps") if steps is not None else policy.steps)
    bake = policy.bake_seconds if bake_seconds is None else float(bake_seconds)
    registry.version(name, version)
    router = router_for(registry, name, router)
    current = load_state(registry, name)
    if current is not None and current.active and current.version != version:
        raise TransitionRefused(
            f"a rollout of v{current.version} is in progress ({current.status} at {current.weight:g}%)",
            f"finish it, or `mlgate rollout abort {name}` first",
        )
    gate_note = ensure_gate(registry, name, version, "canary", force=force)  # runs the gate unless it passed
    with registry.lock(name, f"rollout start v{version}"):
        current = load_state(registry, name)
        if current is not None and current.active:
            if current.version == version:
                return status(registry, name, router=router, clock=clock, notes=["this rollout is already running"])
            raise TransitionRefused(
                f"a rollout of v{current.version} is in progress ({current.status} at {current.weight:g}%)",
                f"finish it, or `mlgate rollout abort {name}` first",
            )
        production = registry.aliases(name).get(registry.settings.aliases.production)
        if production is None:
            raise TransitionRefused(
                f"{name} has no production version to compare a canary with",
                f"promote the first release directly: `mlgate promote {name} {version} --to production`",
            )
        if production == version:
            raise TransitionRefused(f"v{version} is already production", "pick another version")
        now = clock()
        state = RolloutState(
            name, version, production, plan, bake, 0, RUNNING, now, now, actor=registry.settings.actor, reason=reason
        )
        save_state(registry, state)  # the intent first: a crash after this is resumed from here
        try:
            shadow.move(registry, router, state)  # the canary weight, or the mirroring of a shadow step
        except MlgateError as exc:  # refused or unread by the router (HAProxy cannot mirror): no rollout stays open
            failed = replace(state, status=ABORTED, ended_at=clock(), outcome=f"not started: {exc.message}")
            save_state(registry, failed)
            raise
        registry.set_version_tag(name, version, keys.STATUS, "canary")
        _resolve_abort_alert(registry, name)
        record_event(registry, state, "rollout-start", reason=reason, steps=plan, bake_seconds=bake, gate=gate_note)
    return status(registry, name, router=router, clock=clock)


def complete(registry: Registry, state: RolloutState, router: TrafficRouter, clock: Clock, why: str) -> RolloutState:
    """Canary to production, previous production to last known good, smoke-tested. Holds the lock."""
    name, version = state.model, state.version
    try:
        gate_note = ensure_gate(registry, name, version, "production")
    except GateFailed as exc:
        state = replace(state, status=PAUSED, outcome=f"cannot complete: {exc.message.splitlines()[0]}")
        save_state(registry, state)
        record_event(registry, state, "rollout-pause", reason=state.outcome)
        return state
    previous = registry.aliases(name).get(registry.settings.aliases.production)
    if state.status == COMPLETING and previous == version:
        previous = state.baseline  # resuming: the alias already moved
    shadow.end(router, state)  # a plan shadow,100 completes from its shadow step
    state = replace(state, status=COMPLETING, step=len(state.steps) - 1, outcome=why)
    save_state(registry, state)
    entered = enter_production(registry, name, version, router, previous)
    smoke, lkg = entered.smoke, entered.last_known_good
    state = replace(state, status=COMPLETED, ended_at=clock())
    save_state(registry, state)
    record_event(
        registry,
        state,
        "rollout-complete",
        result="completed" if smoke.passed else "failed",
        reason=why,
        previous_production=previous,
        last_known_good=lkg,
        gate=gate_note,
        smoke=smoke.to_dict(),
    )
    return state


def next_step(registry: Registry, state: RolloutState, router: TrafficRouter, clock: Clock, why: str) -> RolloutState:
    if state.step + 1 >= len(state.steps) or state.steps[state.step + 1] >= 100:
        return complete(registry, state, router, clock, why)
    before = state
    state = replace(state, step=state.step + 1, step_started_at=clock(), status=RUNNING, extensions=0, outcome=None)
    save_state(registry, state)
    try:
        shadow.move(registry, router, state)
    except MlgateError:  # the router refused the move or read back something else: the rollout stays where it was
        save_state(registry, before)
        raise
    record_event(registry, state, "rollout-step", reason=why)
    return state


def advance(
    registry: Registry,
    name: str,
    reason: str | None = None,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
) -> RolloutStatus:
    """Move to the next step now (from running or paused); past the last step the canary becomes production."""
    router = router_for(registry, name, router)
    with registry.lock(name, "rollout advance"):
        state = active_rollout(registry, name)
        next_step(registry, state, router, clock, reason or f"advanced by {registry.settings.actor}")
    return status(registry, name, router=router, clock=clock)


def pause(registry: Registry, name: str, reason: str | None = None, clock: Clock = time.time) -> RolloutStatus:
    """Hold the current weight; `rollout run` stops deciding until `rollout resume`."""
    with registry.lock(name, "rollout pause"):
        state = active_rollout(registry, name)
        if state.status != PAUSED:
            state = replace(state, status=PAUSED, outcome=reason or f"paused by {registry.settings.actor}")
            save_state(registry, state)
            record_event(registry, state, "rollout-pause", reason=state.outcome)
    return status(registry, name, clock=clock)


def resume(
    registry: Registry, name: str, router: TrafficRouter | None = None, clock: Clock = time.time
) -> RolloutStatus:
    """Continue a paused rollout: the current step bakes again from now."""
    router = router_for(registry, name, router)
    with registry.lock(name, "rollout resume"):
        state = active_rollout(registry, name)
        if state.status == PAUSED:
            state = replace(state, status=RUNNING, step_started_at=clock(), extensions=0, outcome=None)
            save_state(registry, state)
            shadow.move(registry, router, state)
            record_event(registry, state, "rollout-resume")
    return status(registry, name, router=router, clock=clock)


def abort_now(
    registry: Registry,
    state: RolloutState,
    router: TrafficRouter,
    clock: Clock,
    why: str,
    evidence: dict[str, Any] | None = None,
) -> RolloutState:
    """All traffic back to production, the canary version marked failed, its owner alerted. Holds the lock."""
    state = replace(state, status=ABORTED, ended_at=clock(), outcome=why, last_analysis=evidence or state.last_analysis)
    save_state(registry, state)
    shadow.leave(router, state)  # the canary out, or the mirroring stopped at a shadow step
    registry.set_version_tag(state.model, state.version, keys.STATUS, states.FAILED)
    reason = f"{shadow.stage(state)} aborted: {why}"[:5000]
    registry.set_version_tag(state.model, state.version, keys.ROLLED_BACK_REASON, reason)
    alert = alert_owner(registry, state, why, evidence)
    record_event(registry, state, "rollout-abort", result="failed", reason=why, evidence=evidence, alert=alert)
    return state


def abort(
    registry: Registry,
    name: str,
    reason: str | None = None,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
) -> RolloutStatus:
    """All traffic back to production; the canary version is marked failed."""
    router = router_for(registry, name, router)
    with registry.lock(name, "rollout abort"):
        state = active_rollout(registry, name)
        abort_now(registry, state, router, clock, reason or f"aborted by {registry.settings.actor}")
    return status(registry, name, router=router, clock=clock)


def alert_owner(
    registry: Registry, state: RolloutState, why: str, evidence: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Tell the version's owner on duty that the canary was aborted; returns what happened (never raises)."""
    try:
        router = AlertRouter(registry.settings, registry=registry, attempts=2, backoff=0.2, timeout=3.0)
        note = router.fire(
            Alert(
                model=state.model,
                signal=ABORT_SIGNAL,
                severity="critical",
                summary=f"canary v{state.version} of {state.model} aborted at {state.weight:g}%: {why}"
                if not shadow.in_shadow(state)
                else f"shadow v{state.version} of {state.model} aborted (mirrored requests only): {why}",
                details={"evidence": evidence, "production": state.baseline},
                version=state.version,
            )
        )
    except Exception as exc:  # noqa: BLE001 - an alert failure must never stop an abort
        return {"action": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return {
        k: v for k, v in note.to_dict().items() if k in ("action", "owner", "person", "period", "delivered", "error")
    }


def _resolve_abort_alert(registry: Registry, name: str) -> None:
    """A new rollout supersedes the alert of an earlier aborted canary (best effort, never raises)."""
    with contextlib.suppress(Exception):  # alert bookkeeping must never block a rollout
        AlertRouter(registry.settings, registry=registry, attempts=1, timeout=3.0).resolve(name, ABORT_SIGNAL)
