"""The post-promotion watch: production judged against the previous version's record until the watch ends.

After a rollout completes (`mlgate rollout run` goes on into it) or a promote (`mlgate watch NAME`),
for ``watch`` from rollout.yaml, every poll period: the watched version's requests on the production
route over the last bake period (never before the change) against the previous production version's
requests in the record before the change (as long before it as the watch lasts, at least one bake
period), by the canary analysis' criteria and thresholds (error rate increase, p99 latency ratio,
prediction PSI, the KPI when configured; ``min_requests`` on both sides or no verdict yet). A breach
rolls back to the last known good through the one rollback (checklist, smoke test; the rollback event
records the watch and its evidence) and alerts the owner. The state lives on the registered model
(watch_state.py): a killed watch resumes, and one killed between its breach and the rollback finishes it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlgate.alerts import AlertRouter
from mlgate.exceptions import MlgateError, RegistryUnavailable, SmokeTestFailed, TransitionRefused, UsageError
from mlgate.registry import Event, keys, states
from mlgate.release.rollback.execute import rollback
from mlgate.release.rollback.plan import ROLLBACK
from mlgate.release.rollout.analysis import FAIL, WAIT, RecordSource
from mlgate.release.rollout.policy import RolloutPolicy, load_rollout_policy
from mlgate.release.rollout.state import COMPLETED as ROLLOUT_COMPLETED
from mlgate.release.rollout.state import Clock, load_state
from mlgate.release.rollout.status import RolloutStatus
from mlgate.release.rollout.watch_look import look
from mlgate.release.rollout.watch_pause import pause_if_stuck, resume, streak
from mlgate.release.rollout.watch_state import (
    BREACHED,
    COMPLETED,
    FAILED,
    PAUSED,
    ROLLED_BACK,
    SUPERSEDED,
    WATCH_SIGNAL,
    WATCHING,
    Verdict,
    WatchState,
    alert_owner,
    load_watch,
    record_watch_event,
    save_watch,
)
from mlgate.traffic import router_for

if TYPE_CHECKING:
    from mlgate.registry import Registry
    from mlgate.traffic import TrafficRouter

MOVES_PRODUCTION = ("promote-production", "rollout-complete")


@dataclass(frozen=True)
class WatchResult:
    """What a watch did: its state (None when there is no watch), the last verdict, notes for the reader."""

    model: str
    state: WatchState | None
    verdict: Verdict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def breached(self) -> bool:
        return self.state is not None and self.state.status in (BREACHED, ROLLED_BACK, FAILED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "watch": asdict(self.state) if self.state else None,
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "notes": self.notes,
        }


def _iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


def _previous_production(registry: Registry, name: str, version: str) -> str | None:
    """The production version ``version`` replaced: from the newest event that made it production."""
    for event in registry.iter_events(name, version=version):
        if event.action in MOVES_PRODUCTION and event.to_version == version and event.result != "started":
            return event.from_version
        if event.action == ROLLBACK and event.to_version == version and event.result != "started":
            return None  # it came back by a rollback: nothing new to watch
    return None


def _since(production_at: str, clock: Clock) -> float:
    try:
        return datetime.fromisoformat(production_at).timestamp()
    except ValueError:
        return clock()


def begin(
    registry: Registry,
    name: str,
    seconds: float | None = None,
    clock: Clock = time.time,
    baseline: str | None = None,
    since: float | None = None,
    trigger: str = "watch",
) -> tuple[WatchState | None, list[str]]:
    """The watch of production's current stay: resumed when one is stored, else started (None: no watch).

    ``seconds`` overrides rollout.yaml's ``watch``; ``baseline`` and ``since`` default to the history's
    previous production version and the version's ``mlgate.production_at``.
    """
    policy = load_rollout_policy(registry.settings, name)
    length = policy.watch_seconds if seconds is None else float(seconds)
    with registry.lock(name, "watch start"):
        reading = states.ReadOnce(registry)
        production = reading.aliases(name).get(registry.settings.aliases.production)
        existing = load_watch(reading, name)
        if existing is not None and existing.status == BREACHED:
            return existing, [f"finishing the watch of v{existing.version}: its breach was recorded, not yet acted on"]
        if production is None:
            raise TransitionRefused(
                f"{name} has no production version to watch",
                f"promote one: `mlgate promote {name} VERSION --to production`",
            )
        production_at = (reading.version(name, production).tags or {}).get(keys.PRODUCTION_AT, "")
        if existing is not None and existing.status == PAUSED and existing.is_for(production, production_at):
            return resume(registry, existing)
        if existing is not None and existing.is_for(production, production_at):
            if existing.active:
                left = max(0.0, existing.ends_at - clock())
                return existing, [f"resumed the watch of v{production} ({left:.0f} s left)"]
            if seconds is None:
                return existing, [
                    f"the watch of v{production} already ended ({existing.status}); production is the same"
                ]
        if existing is not None and existing.active:
            _end(registry, existing, SUPERSEDED, f"production moved to v{production} before the watch ended", clock)
        if length <= 0:
            if trigger == "watch":
                what = "--for 0 watches nothing" if seconds is not None else f"rollout.yaml sets no watch for {name}"
                raise UsageError(f"no watch length: {what}", "set e.g. `watch: 1h` in rollout.yaml, or pass --for 1h")
            return None, []
        baseline = baseline or _previous_production(reading, name, production)
        if baseline is None:
            raise TransitionRefused(
                f"v{production} of {name} replaced no earlier production version (the first release, "
                "or it came back by a rollback): there is no previous version's record to judge it against",
                "watch the next release",
            )
        since = _since(production_at, clock) if since is None else since
        started = since if trigger == "rollout" else clock()
        state = WatchState(name, production, baseline, production_at, since, started, length, trigger=trigger,
                           actor=registry.settings.actor)  # fmt: skip
        save_watch(registry, state)  # the intent first: a killed watch is resumed from here
        record_watch_event(registry, state, "watch-start", ends_at=_iso(state.ends_at))
    with contextlib.suppress(Exception):  # alert bookkeeping must never stop a watch
        AlertRouter(registry.settings, registry=registry, attempts=1, timeout=3.0).resolve(name, WATCH_SIGNAL)
    return state, [f"watching v{production} against v{baseline} until {_iso(state.ends_at)}"]


def _locked_update(registry: Registry, state: WatchState, **changes: Any) -> WatchState | None:
    """Write ``changes`` to the stored watch if it is still this one and active; None if it changed meanwhile."""
    fresh = load_watch(registry, state.model)
    if fresh is None or not fresh.is_for(state.version, state.production_at) or not fresh.active:
        return None
    fresh = replace(fresh, **changes)
    save_watch(registry, fresh)
    return fresh


def _end(registry: Registry, state: WatchState, status: str, outcome: str, clock: Clock, **details: Any) -> WatchState:
    """End the watch (the caller holds the lock) and record ``watch-end``."""
    state = replace(state, status=status, outcome=outcome, ended_at=clock(), **details)
    save_watch(registry, state)
    result = "completed" if status in (COMPLETED, SUPERSEDED) else "failed"
    record_watch_event(registry, state, "watch-end", result=result, reason=outcome, checks=state.checks,
                       judged=state.judged, rollback=state.rollback, alert=state.alert)  # fmt: skip
    return state


def check(
    registry: Registry,
    state: WatchState,
    source: RecordSource,
    policy: RolloutPolicy,
    router: TrafficRouter,
    clock: Clock = time.time,
    cache: dict[Any, Any] | None = None,
) -> WatchResult:
    """One look: roll back on a breach, end the watch when its time is up, else record the look."""
    name = state.model
    now = clock()
    production = registry.aliases(name).get(registry.settings.aliases.production)
    if production != state.version:
        with registry.lock(name, "watch end"):
            fresh = _locked_update(registry, state)
            if fresh is None:
                return WatchResult(name, load_watch(registry, name), notes=["the watch changed meanwhile"])
            why = f"production moved to v{production} by other means before the watch ended"
            return WatchResult(name, _end(registry, fresh, SUPERSEDED, why, clock), fresh.verdict())
    verdict = look(source, state, policy, now, cache)
    if verdict.decision == FAIL:
        return breach(registry, state, verdict, router, clock, decided_at=clock())
    with registry.lock(name, "watch look"):
        fresh = _locked_update(
            registry, state, checks=state.checks + 1, judged=state.judged + (verdict.decision != WAIT),
            last_check_at=now, last_verdict=verdict.to_dict(), **streak(state, verdict, policy, now),
        )  # fmt: skip
        if fresh is None:
            return WatchResult(name, load_watch(registry, name), verdict, ["the watch changed meanwhile"])
        if now >= fresh.ends_at:
            if fresh.judged:
                outcome = f"quiet: {fresh.judged} look(s) at v{fresh.version} within every threshold"
            else:
                outcome = f"ended without a verdict: {verdict.reason}"
            fresh = _end(registry, fresh, COMPLETED, outcome, clock)
        else:
            fresh = pause_if_stuck(registry, fresh, policy)
    return WatchResult(name, fresh, verdict)


def breach(
    registry: Registry,
    state: WatchState,
    verdict: Verdict,
    router: TrafficRouter,
    clock: Clock = time.time,
    decided_at: float | None = None,
) -> WatchResult:
    """Record the breach with its evidence, then roll back and alert the owner.

    Two writes and no lock before the rollback (which takes the lock): traffic goes back as soon as it can.
    """
    at = clock() if decided_at is None else decided_at
    state = replace(
        state, status=BREACHED, breach_at=at, checks=state.checks + 1, judged=state.judged + 1, last_check_at=at,
        last_verdict=verdict.to_dict(), outcome=verdict.reason,  # "breached: error rate, ..."
    )  # fmt: skip
    save_watch(registry, state)  # first: a watch killed from here on finishes the rollback when run again
    record_watch_event(registry, state, "watch-breach", result="failed", reason=state.outcome,
                       evidence=verdict.to_dict())  # fmt: skip
    return act_on_breach(registry, state, router, clock)


def _rollback_of(registry: Registry, state: WatchState) -> Event | None:
    """The finished rollback this watch started (found again when a killed watch resumes)."""
    for event in registry.iter_events(state.model, action=ROLLBACK):
        trigger = event.details.get("trigger") or {}
        if event.action == ROLLBACK and event.result != "started" and trigger.get("watch") == _identity(state):
            return event
    return None


def _identity(state: WatchState) -> dict[str, str]:
    return {"version": state.version, "production_at": state.production_at}


def act_on_breach(
    registry: Registry, state: WatchState, router: TrafficRouter, clock: Clock = time.time
) -> WatchResult:
    """Roll production back to the last known good (unless a resumed watch finds it done), alert, end the watch."""
    name, names = state.model, registry.settings.aliases
    verdict = state.verdict()
    reading = states.ReadOnce(registry)  # history, aliases and rollout state from one read of the model
    done = _rollback_of(reading, state)
    aliases = reading.aliases(name)
    status, info = ROLLED_BACK, None
    if done is not None:
        smoke = (done.details.get("smoke") or {}).get("passed")
        info = {"op_id": done.op_id, "to_version": done.to_version, "smoke_passed": smoke, "resumed": True}
    elif aliases.get(names.production) != state.version:
        status = SUPERSEDED
        info = {"error": f"production moved to v{aliases.get(names.production)} before the automatic rollback"}
    else:
        rollout = load_state(reading, name)
        to = aliases.get(names.last_known_good) if rollout is not None and rollout.active else None
        trigger = {"by": "watch", "watch": _identity(state), "breach_at": _iso(state.breach_at),
                   "evidence": state.last_verdict}  # fmt: skip
        reason = f"post-promotion watch of v{state.version}: {state.outcome}"
        try:
            result = rollback(registry, name, to=to, reason=reason, router=router, trigger=trigger)
            smoke = result.smoke.passed if result.smoke else None
            info = {"op_id": result.op_id, "to_version": result.plan.to_version, "smoke_passed": smoke,
                    "why": result.plan.why}  # fmt: skip
        except SmokeTestFailed as exc:
            moved = registry.aliases(name).get(names.production)
            info = {"to_version": moved, "smoke_passed": False, "error": exc.message}
        except RegistryUnavailable:
            raise  # the breach stays recorded: the next run finishes it
        except MlgateError as exc:  # refused: no last known good, an irreversible migration, the lock held
            status = FAILED
            info = {"error": exc.message, "hint": exc.hint}
    state = replace(state, rollback=info)
    state = replace(state, alert=alert_owner(registry, state, status))
    if status == ROLLED_BACK:
        outcome = f"{state.outcome}; rolled back to v{info.get('to_version')}"
        if info.get("smoke_passed") is False:
            outcome += " but its smoke test failed"
    elif status == FAILED:
        outcome = f"{state.outcome}; the automatic rollback was refused: {info['error']}"
    else:
        outcome = f"{state.outcome}; {info['error']}"
    with registry.lock(name, "watch end"):
        fresh = _locked_update(registry, state, rollback=state.rollback, alert=state.alert)
        if fresh is None:
            return WatchResult(name, load_watch(registry, name), verdict, ["the watch changed meanwhile"])
        ended = _end(registry, fresh, status, outcome, clock)
    return WatchResult(name, ended, verdict)


def drive(
    registry: Registry,
    name: str,
    state: WatchState | None,
    source: RecordSource,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 5.0,
    max_seconds: float | None = None,
    notes: list[str] | None = None,
) -> WatchResult:
    """Look every ``poll_seconds`` until the watch ends (or ``max_seconds`` pass; it goes on when run again)."""
    notes = list(notes or [])
    if state is None:
        return WatchResult(name, None, notes=notes)
    router = router_for(registry, name, router)
    if state.status == BREACHED:
        result = act_on_breach(registry, state, router, clock)
        return replace(result, notes=notes + result.notes)
    if state.status != WATCHING:
        return WatchResult(name, state, state.verdict(), notes)
    policy = load_rollout_policy(registry.settings, name)
    started = clock()
    cache: dict[Any, Any] = {}
    while True:
        result = check(registry, state, source, policy, router, clock, cache)
        if result.state is None or result.state.status != WATCHING:
            return replace(result, notes=notes + result.notes)
        state = result.state
        if max_seconds is not None and clock() - started >= max_seconds:
            return replace(result, notes=[*notes, *result.notes, "stopped after --max-time; run again to go on"])
        sleep(max(0.01, min(poll_seconds, state.ends_at - clock())))


def watch(
    registry: Registry,
    name: str,
    source: RecordSource,
    seconds: float | None = None,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 5.0,
    max_seconds: float | None = None,
) -> WatchResult:
    """Watch production's current stay (after `mlgate promote`): start it, or resume the stored one."""
    state, notes = begin(registry, name, seconds, clock)
    return drive(registry, name, state, source, router, clock, sleep, poll_seconds, max_seconds, notes)


def after_rollout(
    registry: Registry,
    result: RolloutStatus,
    source: RecordSource,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 5.0,
    max_seconds: float | None = None,
) -> RolloutStatus:
    """`rollout run` goes on into the watch when the rollout completed and rollout.yaml sets one.

    The status returned carries this rollout's watch only (not an older one of another release).
    """
    rollout, existing = result.state, result.watch
    if (
        rollout is None
        or existing is None
        or existing.version != rollout.version
        or existing.started_at < rollout.started_at
    ):
        existing = None
    result = replace(result, watch=existing)
    if rollout is None or rollout.status != ROLLOUT_COMPLETED or rollout.ended_at is None:
        return result
    if result.watch is None or not result.watch.active:
        if load_rollout_policy(registry.settings, result.model).watch_seconds <= 0:
            return result
        if registry.aliases(result.model).get(registry.settings.aliases.production) != rollout.version:
            return result
    state, notes = begin(registry, result.model, None, clock, rollout.baseline, rollout.ended_at, "rollout")
    watched = drive(registry, result.model, state, source, router, clock, sleep, poll_seconds, max_seconds, notes)
    return replace(result, watch=watched.state, notes=[*result.notes, *watched.notes])
