"""The rollback plan: the checklist answered before anything moves (target, traffic, migrations, owner, smoke)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlgate.alerts import on_duty
from mlgate.exceptions import MlgateError, RollbackError
from mlgate.registry import Event, keys, states
from mlgate.registry.card import stored_card
from mlgate.release.rollout.state import load_state
from mlgate.release.smoke.deploy import describe_post_deploy_smoke
from mlgate.release.smoke.result import SmokeResult
from mlgate.traffic import router_for

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlgate.registry import Registry
    from mlgate.traffic import TrafficRouter

ROLLBACK = "rollback"  # move production to the last known good (or --to)
ABORT_ROLLOUT = "abort-rollout"  # a canary is live: take it out, production stays
NOTHING = "nothing"  # production is already the version the last rollback chose
ROLLBACK_CANARY = "rollback-canary"  # the event of ABORT_ROLLOUT: production did not move


@dataclass(frozen=True)
class RollbackPlan:
    """The answers to the rollback checklist, decided before anything moves."""

    model: str
    from_version: str
    to_version: str
    why: str
    traffic: str
    smoke_test: str
    canary: str | None = None
    action: str = ROLLBACK
    migrations: list[dict[str, Any]] = field(default_factory=list)
    decision_owner: dict[str, Any] = field(default_factory=dict)
    rollout: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def irreversible(self) -> list[dict[str, Any]]:
        """Migrations that cannot be undone (refused unless accepted)."""
        return [m for m in self.migrations if m.get("reversible") is False]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback did, and the smoke test that proves it."""

    plan: RollbackPlan
    dry_run: bool
    smoke: SmokeResult | None = None
    last_known_good: str | None = None
    op_id: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        return self.plan.action

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_dict(),
            "action": self.plan.action,
            "dry_run": self.dry_run,
            "smoke": self.smoke.to_dict() if self.smoke else None,
            "last_known_good": self.last_known_good,
            "op_id": self.op_id,
            "notes": self.notes,
        }


def _migrations_between(
    registry: Registry, versions: list[ModelVersion], target: ModelVersion, changed: list[str]
) -> list[dict[str, Any]]:
    """Data migrations of the releases after ``target``: those that held production since, and ``changed``."""
    since = (target.tags or {}).get(keys.PRODUCTION_AT, "")
    found: list[dict[str, Any]] = []
    for mv in versions:
        tags = mv.tags or {}
        v = str(mv.version)
        later = tags.get(keys.HELD_PRODUCTION) == "true" and tags.get(keys.PRODUCTION_AT, "") > since
        if v == str(target.version) or not (later or v in changed):
            continue
        card, _ = stored_card(registry, mv)
        if card is None:
            found.append({"version": v, "name": None, "reversible": None, "description": "no model card stored"})
            continue
        for m in card.data_migrations:
            found.append({"version": v, "name": m.name, "reversible": m.reversible, "description": m.description})
    return found


def decision_owner(registry: Registry, owner: str | None, now: datetime | None = None) -> dict[str, Any]:
    """Who decides right now for ``owner``, from owners.yaml; says what is missing instead of failing."""
    now = now or datetime.now(UTC)
    if not owner:
        return {"owner": None, "summary": "unknown: the version has no owner in its model card", "at": now.isoformat()}
    try:
        duty = on_duty(registry.settings, owner, now)
    except MlgateError as exc:
        return {"owner": owner, "summary": f"{owner} (no on-duty route: {exc.message})", "at": now.isoformat()}
    return {
        "owner": owner,
        "person": duty.person,
        "period": duty.period,
        "timezone": duty.timezone,
        "escalation": duty.escalation.person if duty.escalation else None,
        "escalate_after_seconds": duty.escalate_after_seconds,
        "summary": duty.summary(),
        "at": now.isoformat(),
    }


def _last_rollback(registry: Registry, name: str) -> Event | None:
    """The newest event that moved production, if it was a rollback."""
    for event in registry.iter_events(name):
        if event.action in ("promote-production", "rollout-complete", ROLLBACK) and event.result != "started":
            return event if event.action == ROLLBACK else None
    return None


def plan_rollback(
    registry: Registry,
    name: str,
    to: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    router: TrafficRouter | None = None,
) -> RollbackPlan:
    """Answer the checklist: ``to`` if given (it must qualify unless ``force``), else the last known good.

    Reads the registered model once (aliases, rollout state and history share that read) and its versions once.
    """
    router = router_for(registry, name, router)
    registry = states.read_once(registry)
    names = registry.settings.aliases
    aliases = registry.aliases(name)
    current = aliases.get(names.production)
    if current is None:
        raise RollbackError(
            f"{name} has no production version, so there is nothing to roll back",
            f"promote one with `mlgate promote {name} VERSION --to production`",
        )
    versions = registry.versions(name)
    by_version = {str(mv.version): mv for mv in versions}
    canary = aliases.get(names.canary)
    rollout = load_state(registry, name)
    owner_tags = by_version[current].tags or {}
    owner = decision_owner(registry, owner_tags.get(keys.OWNER), now)
    smoke_text = describe_post_deploy_smoke(registry, name, current)

    # A live canary, or one whose abort died before traffic moved back: take the canary out first.
    canary_live = rollout is not None and (
        rollout.active or (rollout.status == "aborted" and canary == rollout.version)
    )
    if to is None and rollout is not None and canary_live:
        canary_mv = by_version[rollout.version]
        return RollbackPlan(
            model=name,
            from_version=rollout.version,
            to_version=current,
            why=f"a rollout of v{rollout.version} is {rollout.status} at {rollout.weight:g}%: the canary is the "
            f"latest change, so it is taken out and production v{current} (unchanged) takes all traffic",
            traffic=f"clear the canary v{rollout.version} through {router.describe()}; production stays v{current}",
            smoke_test=smoke_text,
            canary=rollout.version,
            action=ABORT_ROLLOUT,
            migrations=_migrations_between(registry, [canary_mv], by_version[current], [rollout.version]),
            decision_owner=owner,
            rollout={"version": rollout.version, "status": rollout.status, "weight": rollout.weight},
            notes=[f"to roll production back as well, run `mlgate rollback {name}` again after this"],
        )
    if to is None:
        previous = _last_rollback(registry, name)
        if previous is not None and previous.to_version == current and previous.result == "completed":
            return RollbackPlan(
                model=name,
                from_version=current,
                to_version=current,
                why=f"production is already v{current}: the last change was a rollback from v{previous.from_version} "
                f"at {previous.at[:19]} by {previous.actor} (op {previous.op_id}), and its smoke test passed",
                traffic="none: nothing moves",
                smoke_test=smoke_text,
                canary=canary,
                action=NOTHING,
                decision_owner=owner,
                notes=[f"to go further back, pick the version: `mlgate rollback {name} --to VERSION`"],
            )
    if to is not None:
        target = by_version.get(str(to)) or registry.version(name, to)  # the latter names the versions there are
        if str(target.version) == current:
            raise RollbackError(f"v{to} is already production", "pick another version with --to")
        ok, why = states.qualifies_as_last_known_good(target)
        if not ok and not force:
            raise RollbackError(
                f"v{to} is not a safe rollback target: {why}",
                "pick a version that held production and passed its smoke test, or add --force",
            )
        why = f"chosen with --to; {why}" + ("" if ok else " (accepted with --force)")
    else:
        found = states.last_known_good(versions, current)
        if found is None:
            raise RollbackError(
                f"{name} has no last known good version to roll back to (production is v{current})",
                "no other version held production, passed its smoke test and was never rolled back; "
                "promote a fixed version, or pick one with --to VERSION --force",
            )
        target = found
        why = "last known good: " + states.qualifies_as_last_known_good(target)[1]
    version = str(target.version)
    traffic = f"move production from v{current} to v{version} through {router.describe()}"
    notes = []
    if canary:
        traffic += f"; clear the canary v{canary} so all traffic goes to v{version}"
    if rollout is not None and rollout.active:
        notes.append(f"the rollout of v{rollout.version} in progress is aborted first")
    changed = [current] + ([canary] if canary else [])
    return RollbackPlan(
        model=name,
        from_version=current,
        to_version=version,
        why=why,
        traffic=traffic,
        smoke_test=describe_post_deploy_smoke(registry, name, version),
        canary=canary,
        action=ROLLBACK,
        migrations=_migrations_between(registry, versions, target, changed),
        decision_owner=owner,
        rollout={"version": rollout.version, "status": rollout.status, "weight": rollout.weight}
        if rollout is not None and rollout.active
        else None,
        notes=notes,
    )


def refuse_irreversible(plan: RollbackPlan, accept_irreversible: bool) -> None:
    if plan.irreversible and not accept_irreversible:
        listed = "; ".join(
            f"v{m['version']} {m['name']}: {m['description'] or 'no description'}" for m in plan.irreversible
        )
        raise RollbackError(
            f"rolling {plan.model} back across irreversible data migration(s) is refused: {listed}",
            f"v{plan.to_version} may not read data these migrations changed; check with "
            f"{plan.decision_owner.get('person') or plan.decision_owner.get('owner') or 'the owner'}, "
            "then run again with --accept-irreversible",
        )
