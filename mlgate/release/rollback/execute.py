"""Rollback: answer the rollback checklist, move production back to the last known good, prove it by smoke test.

The checklist, answered before anything moves and recorded with the event:

1. the last known good version, and why it qualifies;
2. how traffic goes back (through the TrafficRouter: production alias switch, canary cleared);
3. the data migrations of the releases in between, reversible or not (from their model cards);
   an irreversible one is refused unless ``accept_irreversible``;
4. the decision owner right now (business hours / out of hours, mlflow_config/owners.yaml);
5. the smoke test that proves it, and its result.

With a rollout in progress the latest change is the canary: rollback aborts the rollout and leaves
production alone. Right after a successful rollback, a second one changes nothing and says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import SmokeTestFailed
from mlgate.registry import Event, interrupted_operation, states, utcnow
from mlgate.release.production import Leaving, enter_production
from mlgate.release.rollback.plan import (
    ABORT_ROLLOUT,
    NOTHING,
    ROLLBACK,
    ROLLBACK_CANARY,
    RollbackPlan,
    RollbackResult,
    plan_rollback,
    refuse_irreversible,
)
from mlgate.release.rollout.state import ABORTED, load_state
from mlgate.release.rollout.steps import abort_now
from mlgate.release.smoke.deploy import post_deploy_smoke
from mlgate.traffic import router_for

if TYPE_CHECKING:
    from mlgate.registry import Registry
    from mlgate.traffic import TrafficRouter


def rollback(
    registry: Registry,
    name: str,
    to: str | None = None,
    reason: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    accept_irreversible: bool = False,
    now: datetime | None = None,
    router: TrafficRouter | None = None,
    trigger: dict[str, Any] | None = None,
) -> RollbackResult:
    """Answer the checklist, then move traffic back and smoke-test it; ``dry_run`` only answers.

    ``trigger``: what started it when no person did (the post-promotion watch: its evidence), recorded in the event.

    The plan is made again under the lock, so two rollbacks at once cannot both move traffic;
    a rollback whose process died midway is finished by the next one.
    """
    router = router_for(registry, name, router)
    died = None if dry_run else interrupted_operation(registry, name, ROLLBACK)
    if died is not None:
        # A rollback died midway: past its first move the checklist may no longer find a target (the version
        # it left is marked rolled back), so it is not asked again; the lock below finishes that rollback.
        plan = RollbackPlan(**died.details["plan"])
    else:
        plan = plan_rollback(registry, name, to, force, now, router)
    if dry_run:
        return RollbackResult(plan, dry_run=True)
    if died is None:  # a rollback that died midway was accepted when it started
        refuse_irreversible(plan, accept_irreversible)
    if plan.action == NOTHING:
        return RollbackResult(plan, False, notes=[plan.why, *plan.notes])
    reason = reason or (died.reason if died is not None else None) or "rollback"
    with registry.lock(name, f"rollback to v{plan.to_version}"):
        reading = states.ReadOnce(registry)  # read under the lock: the plan is made again from it
        unfinished = interrupted_operation(reading, name, ROLLBACK)
        if unfinished is not None:
            # A rollback died midway (we hold the lock, so its holder is gone): finish that one.
            plan = RollbackPlan(**unfinished.details["plan"])
        else:
            plan = plan_rollback(reading, name, to, force, now, router)
            refuse_irreversible(plan, accept_irreversible)
        if plan.action == ABORT_ROLLOUT:
            return _abort_rollout(registry, plan, reason, router, reading)
        if plan.action == NOTHING:
            return RollbackResult(plan, False, notes=[plan.why, *plan.notes])
        # Stop a rollout first: its events must not come between this rollback's started and completed
        # events, or a rollback that dies midway would not be recognised and finished by the next one.
        notes = [] if unfinished is not None else _stop_rollout(registry, name, reason, router, reading)
        event = Event(
            action=ROLLBACK,
            model=name,
            from_version=plan.from_version,
            to_version=plan.to_version,
            actor=registry.settings.actor,
            reason=reason,
            result="started",
            details={
                "plan": plan.to_dict(),
                "accepted_irreversible": [m["name"] for m in plan.irreversible],
                "resumed": unfinished.op_id if unfinished else None,
                **({"trigger": trigger} if trigger else {}),
            },
            op_id=unfinished.op_id if unfinished else Event.new_op_id(),
        )
        registry.record_event(event)
        entered = enter_production(
            registry,
            name,
            plan.to_version,
            router,
            plan.from_version,
            leaving=Leaving.rolled_back(reason),
            keep_other_canary=False,
        )
        smoke, lkg = entered.smoke, entered.last_known_good
        notes += entered.notes
        event.result = "completed" if smoke.passed else "failed"
        event.at = utcnow()
        event.details = {**event.details, "smoke": smoke.to_dict(), "last_known_good": lkg, "notes": notes}
        registry.record_event(event)
    result = RollbackResult(plan, False, smoke, lkg, event.op_id, notes)
    if not smoke.passed:
        raise SmokeTestFailed(
            f"{name} rolled back to v{plan.to_version} but the smoke test failed: {smoke.summary()}",
            f"production is v{plan.to_version}; inspect it, then `mlgate rollback {name} --to VERSION`",
        )
    return result


def _stop_rollout(
    registry: Registry, name: str, reason: str, router: TrafficRouter, reading: Registry | None = None
) -> list[str]:
    """Abort a rollout in progress (the caller holds the lock); says what it did.

    ``reading``: the caller's read of the registry under the lock, if nothing was written since.
    """
    reading = reading or registry
    state = load_state(reading, name)
    if state is not None and state.status == ABORTED:
        if reading.aliases(name).get(registry.settings.aliases.canary) == state.version:
            router.clear_canary()  # an abort that died before traffic moved back
            return [f"finished the abort of the rollout of v{state.version}: canary cleared"]
        return []
    if state is None or not state.active:
        return []
    abort_now(registry, state, router, registry.clock, f"rollback: {reason}")
    return [f"aborted the rollout of v{state.version} (it was {state.status} at {state.weight:g}%)"]


def _abort_rollout(
    registry: Registry, plan: RollbackPlan, reason: str, router: TrafficRouter, reading: Registry | None = None
) -> RollbackResult:
    """The rollback of a live canary: take it out, smoke-test production, record it. Holds the lock."""
    name = plan.model
    notes = _stop_rollout(registry, name, reason, router, reading)
    smoke = post_deploy_smoke(registry, name, plan.to_version)
    lkg = states.refresh_last_known_good(registry, name)
    event = Event(
        action=ROLLBACK_CANARY,
        model=name,
        from_version=plan.from_version,
        to_version=plan.to_version,
        actor=registry.settings.actor,
        reason=reason,
        result="completed" if smoke.passed else "failed",
        details={"plan": plan.to_dict(), "smoke": smoke.to_dict(), "last_known_good": lkg, "notes": notes},
    )
    registry.record_event(event)
    result = RollbackResult(plan, False, smoke, lkg, event.op_id, [*notes, *plan.notes])
    if not smoke.passed:
        raise SmokeTestFailed(
            f"the canary of {name} was taken out, but production v{plan.to_version} fails its smoke test: "
            f"{smoke.summary()}",
            f"roll production back too: `mlgate rollback {name}`",
        )
    return result
