"""Canary rollouts: start, advance, pause, resume, abort, and a driver that judges each bake period.

The rollout's state lives in the registry (registered-model tag ``mlgate.rollout``, JSON), written
before traffic moves, so any process can see it and a killed ``rollout run`` resumes from it.
Traffic moves only through a ``TrafficRouter`` (mlgate.traffic). Every step is an event.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import GateFailed, MlgateError, TransitionRefused, UsageError
from mlgate.registry import Event, keys, states, utcnow
from mlgate.release.rollout.analysis import FAIL, PASS, WAIT, Analysis, RecordSource, analyze
from mlgate.release.rollout.policy import load_rollout_policy, parse_steps
from mlgate.release.smoke.checks import post_deploy_smoke
from mlgate.traffic import RegistryRouter, TrafficRouter

if TYPE_CHECKING:
    from mlgate.registry import Registry

RUNNING, PAUSED, ABORTED, COMPLETED = "running", "paused", "aborted", "completed"
COMPLETING = "completing"  # written before the canary becomes production; a resumed run finishes it
ACTIVE = (RUNNING, PAUSED)
ABORT_SIGNAL = "canary.aborted"  # the alert signal of an aborted canary
Clock = Callable[[], float]


@dataclass
class RolloutState:
    """One rollout as stored in the registry."""

    model: str
    version: str
    baseline: str  # production version when the rollout started
    steps: list[float]
    bake_seconds: float
    step: int = 0
    status: str = RUNNING
    started_at: float = 0.0
    step_started_at: float = 0.0
    extensions: int = 0
    actor: str = "unknown"
    reason: str | None = None
    ended_at: float | None = None
    outcome: str | None = None  # why it paused, aborted or completed
    last_analysis: dict[str, Any] | None = None

    @property
    def weight(self) -> float:
        return self.steps[self.step]

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def decision_due(self) -> float:
        """When the current step is judged: one bake period per try (more when traffic was short)."""
        return self.step_started_at + self.bake_seconds * (1 + self.extensions)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> RolloutState:
        data = json.loads(text)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class RolloutStatus:
    """What `mlgate rollout status` shows: the plan, the current step, figures, time to the next decision."""

    model: str
    state: RolloutState | None
    weight: float
    seconds_to_decision: float | None
    analysis: Analysis | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "state": asdict(self.state) if self.state else None,
            "weight": self.weight,
            "seconds_to_decision": self.seconds_to_decision,
            "analysis": self.analysis.to_dict() if self.analysis else None,
            "notes": self.notes,
        }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def load_state(registry: Registry, name: str) -> RolloutState | None:
    """The rollout stored on the model (the latest, whatever its status), or None."""
    raw = registry.model_tags(name).get(keys.ROLLOUT)
    if not raw:
        return None
    try:
        return RolloutState.from_json(raw)
    except (ValueError, TypeError, KeyError):
        raise MlgateError(
            f"the rollout state on {name!r} (tag {keys.ROLLOUT}) is unreadable",
            f"inspect it in the MLflow UI; `mlgate rollout abort {name}` resets it",
        ) from None


def save_state(registry: Registry, state: RolloutState) -> None:
    registry.set_model_tag(state.model, keys.ROLLOUT, state.to_json())


def _event(registry: Registry, state: RolloutState, action: str, result: str = "completed", **details: Any) -> None:
    registry.record_event(
        Event(
            action=action,
            model=state.model,
            from_version=state.baseline,
            to_version=state.version,
            actor=registry.settings.actor,
            reason=details.pop("reason", None),
            result=result,
            details={"step": state.step + 1, "of": len(state.steps), "weight": state.weight, **details},
        )
    )


def _active(registry: Registry, name: str) -> RolloutState:
    state = load_state(registry, name)
    if state is None or not state.active:
        raise TransitionRefused(
            f"{name} has no rollout in progress" + (f" (the last one {state.status})" if state else ""),
            f"start one with `mlgate rollout start {name} VERSION`",
        )
    return state


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
    router = router or RegistryRouter(registry, name)
    current = load_state(registry, name)
    if current is not None and current.active and current.version != version:
        raise TransitionRefused(
            f"a rollout of v{current.version} is in progress ({current.status} at {current.weight:g}%)",
            f"finish it, or `mlgate rollout abort {name}` first",
        )
    from mlgate.release.promote import ensure_gate

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
        router.set_canary(version, state.weight)
        registry.set_version_tag(name, version, keys.STATUS, "canary")
        _resolve_abort_alert(registry, name)
        _event(registry, state, "rollout-start", reason=reason, steps=plan, bake_seconds=bake, gate=gate_note)
    return status(registry, name, router=router, clock=clock)


def _complete(registry: Registry, state: RolloutState, router: TrafficRouter, clock: Clock, why: str) -> RolloutState:
    """Canary to production, previous production to last known good, smoke-tested. Holds the lock."""
    name, version = state.model, state.version
    from mlgate.release.promote import ensure_gate

    try:
        gate_note = ensure_gate(registry, name, version, "production")
    except GateFailed as exc:
        state = replace(state, status=PAUSED, outcome=f"cannot complete: {exc.message.splitlines()[0]}")
        save_state(registry, state)
        _event(registry, state, "rollout-pause", reason=state.outcome)
        return state
    previous = registry.aliases(name).get(registry.settings.aliases.production)
    if state.status == COMPLETING and previous == version:
        previous = state.baseline  # resuming: the alias already moved
    state = replace(state, status=COMPLETING, step=len(state.steps) - 1, outcome=why)
    save_state(registry, state)
    if registry.aliases(name).get(registry.settings.aliases.canary) == version:
        router.promote_canary()
    registry.set_version_tag(name, version, keys.HELD_PRODUCTION, "true")
    registry.set_version_tag(name, version, keys.STATUS, "production")
    registry.set_version_tag(name, version, keys.PRODUCTION_AT, utcnow())
    if previous and previous != version:
        registry.set_version_tag(name, previous, keys.STATUS, states.ARCHIVED)
    smoke = post_deploy_smoke(registry, name, version)
    registry.set_version_tag(name, version, keys.SMOKE, "passed" if smoke.passed else "failed")
    registry.set_version_tag(name, version, keys.SMOKE_AT, utcnow())
    lkg = states.refresh_last_known_good(registry, name)
    state = replace(state, status=COMPLETED, ended_at=clock())
    save_state(registry, state)
    _event(
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


def _next_step(registry: Registry, state: RolloutState, router: TrafficRouter, clock: Clock, why: str) -> RolloutState:
    if state.step + 1 >= len(state.steps) or state.steps[state.step + 1] >= 100:
        return _complete(registry, state, router, clock, why)
    state = replace(state, step=state.step + 1, step_started_at=clock(), status=RUNNING, extensions=0, outcome=None)
    save_state(registry, state)
    router.set_canary(state.version, state.weight)
    _event(registry, state, "rollout-step", reason=why)
    return state


def advance(
    registry: Registry,
    name: str,
    reason: str | None = None,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
) -> RolloutStatus:
    """Move to the next step now (from running or paused); past the last step the canary becomes production."""
    router = router or RegistryRouter(registry, name)
    with registry.lock(name, "rollout advance"):
        state = _active(registry, name)
        _next_step(registry, state, router, clock, reason or f"advanced by {registry.settings.actor}")
    return status(registry, name, router=router, clock=clock)


def pause(registry: Registry, name: str, reason: str | None = None, clock: Clock = time.time) -> RolloutStatus:
    """Hold the current weight; `rollout run` stops deciding until `rollout resume`."""
    with registry.lock(name, "rollout pause"):
        state = _active(registry, name)
        if state.status != PAUSED:
            state = replace(state, status=PAUSED, outcome=reason or f"paused by {registry.settings.actor}")
            save_state(registry, state)
            _event(registry, state, "rollout-pause", reason=state.outcome)
    return status(registry, name, clock=clock)


def resume(
    registry: Registry, name: str, router: TrafficRouter | None = None, clock: Clock = time.time
) -> RolloutStatus:
    """Continue a paused rollout: the current step bakes again from now."""
    router = router or RegistryRouter(registry, name)
    with registry.lock(name, "rollout resume"):
        state = _active(registry, name)
        if state.status == PAUSED:
            state = replace(state, status=RUNNING, step_started_at=clock(), extensions=0, outcome=None)
            save_state(registry, state)
            router.set_canary(state.version, state.weight)
            _event(registry, state, "rollout-resume")
    return status(registry, name, router=router, clock=clock)


def _abort(
    registry: Registry,
    state: RolloutState,
    router: TrafficRouter,
    clock: Clock,
    why: str,
    evidence: dict[str, Any] | None = None,
) -> RolloutState:
    state = replace(state, status=ABORTED, ended_at=clock(), outcome=why, last_analysis=evidence or state.last_analysis)
    save_state(registry, state)
    router.clear_canary()
    registry.set_version_tag(state.model, state.version, keys.STATUS, states.FAILED)
    registry.set_version_tag(state.model, state.version, keys.ROLLED_BACK_REASON, f"canary aborted: {why}"[:5000])
    alert = alert_owner(registry, state, why, evidence)
    _event(registry, state, "rollout-abort", result="failed", reason=why, evidence=evidence, alert=alert)
    return state


def abort(
    registry: Registry,
    name: str,
    reason: str | None = None,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
) -> RolloutStatus:
    """All traffic back to production; the canary version is marked failed."""
    router = router or RegistryRouter(registry, name)
    with registry.lock(name, "rollout abort"):
        state = _active(registry, name)
        _abort(registry, state, router, clock, reason or f"aborted by {registry.settings.actor}")
    return status(registry, name, router=router, clock=clock)


def alert_owner(
    registry: Registry, state: RolloutState, why: str, evidence: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Tell the version's owner on duty that the canary was aborted; returns what happened (never raises)."""
    try:
        from mlgate.alerts import Alert, AlertRouter

        router = AlertRouter(registry.settings, registry=registry, attempts=2, backoff=0.2, timeout=3.0)
        note = router.fire(
            Alert(
                model=state.model,
                signal=ABORT_SIGNAL,
                severity="critical",
                summary=f"canary v{state.version} of {state.model} aborted at {state.weight:g}%: {why}",
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
        from mlgate.alerts import AlertRouter

        AlertRouter(registry.settings, registry=registry, attempts=1, timeout=3.0).resolve(name, ABORT_SIGNAL)


def reconcile(registry: Registry, state: RolloutState, router: TrafficRouter, clock: Clock = time.time) -> list[str]:
    """Make traffic match the stored state; a process killed between the two left it behind. Holds the lock."""
    canary = registry.aliases(state.model).get(registry.settings.aliases.canary)
    if state.active and (canary != state.version or router.weight() != state.weight):
        router.set_canary(state.version, state.weight)
        return [f"traffic set back to the stored state: v{state.version} at {state.weight:g}%"]
    if state.status == ABORTED and canary == state.version:
        router.clear_canary()
        return [f"finished the abort of v{state.version}: canary cleared"]
    if state.status == COMPLETING:
        _complete(registry, state, router, clock, state.outcome or "resumed")
        return [f"finished making v{state.version} production"]
    return []


def decide(
    registry: Registry,
    name: str,
    source: RecordSource,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
) -> RolloutStatus:
    """If the current step has baked, judge it and advance, extend, pause or abort. Else do nothing."""
    router = router or RegistryRouter(registry, name)
    policy = load_rollout_policy(registry.settings, name)
    state = load_state(registry, name)
    if state is None or state.status != RUNNING or clock() < state.decision_due:
        return status(registry, name, router=router, clock=clock)
    since = datetime.fromtimestamp(state.step_started_at, UTC)
    until = datetime.fromtimestamp(clock(), UTC)
    frame = source.window(name, since=since, until=until, inputs=False)
    analysis = analyze(frame, policy, name, since, until)
    with registry.lock(name, "rollout decision"):
        fresh = load_state(registry, name)
        if fresh is None or fresh.status != RUNNING or fresh.step != state.step or fresh.version != state.version:
            return status(registry, name, router=router, clock=clock, notes=["the rollout changed meanwhile"])
        state = replace(fresh, last_analysis=analysis.to_dict())
        _event(registry, state, "rollout-analysis", result=analysis.decision, reason=analysis.reason,
               analysis=analysis.to_dict())  # fmt: skip
        if analysis.decision == FAIL:
            _abort(registry, state, router, clock, f"canary analysis: {analysis.reason}", analysis.to_dict())
        elif analysis.decision == PASS:
            _next_step(registry, state, router, clock, f"canary analysis passed at {state.weight:g}%")
        elif analysis.decision == WAIT and state.extensions < policy.max_extensions:
            save_state(registry, replace(state, extensions=state.extensions + 1))  # one more bake period
        else:
            state = replace(state, status=PAUSED, outcome=f"{analysis.reason} after {state.extensions} extension(s)")
            save_state(registry, state)
            _event(registry, state, "rollout-pause", reason=state.outcome)
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
    """
    router = router or RegistryRouter(registry, name)
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
            return replace(current, notes=notes + current.notes)
        if max_seconds is not None and clock() - started >= max_seconds:
            return replace(current, notes=[*notes, *current.notes, "stopped after --max-time; run again to continue"])
        wait = max(0.0, state.decision_due - clock())
        sleep(min(poll_seconds, wait) if wait > 0 else 0.01)


def status(
    registry: Registry,
    name: str,
    source: RecordSource | None = None,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
    analysis: Analysis | None = None,
    notes: list[str] | None = None,
) -> RolloutStatus:
    """The rollout's plan and step, live figures (with ``source``) and seconds to the next decision."""
    router = router or RegistryRouter(registry, name)
    state = load_state(registry, name)
    due = None
    if state is not None and state.status == RUNNING:
        due = max(0.0, state.decision_due - clock())
    if analysis is None and source is not None and state is not None and state.active:
        since = datetime.fromtimestamp(state.step_started_at, UTC)
        until = datetime.fromtimestamp(clock(), UTC)
        policy = load_rollout_policy(registry.settings, name)
        analysis = analyze(source.window(name, since=since, until=until, inputs=False), policy, name, since, until)
    if analysis is None and state is not None and state.last_analysis:
        analysis = Analysis.from_dict(state.last_analysis)
    return RolloutStatus(name, state, router.weight(), due, analysis, list(notes or []))
