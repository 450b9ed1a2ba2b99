"""Rollback: choose the last known good version, move production back to it, prove it with a smoke test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlgate import keys, lifecycle
from mlgate.exceptions import RollbackError, SmokeTestFailed
from mlgate.registry import Event, interrupted_operation, utcnow
from mlgate.smoke import SmokeResult, describe_post_deploy_smoke, post_deploy_smoke

if TYPE_CHECKING:
    from mlgate.registry import Registry


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback will do, decided before anything moves."""

    model: str
    from_version: str
    to_version: str
    why: str
    traffic: str
    smoke_test: str
    canary: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback did, and the smoke test that proves it."""

    plan: RollbackPlan
    dry_run: bool
    smoke: SmokeResult | None = None
    last_known_good: str | None = None
    op_id: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_dict(),
            "dry_run": self.dry_run,
            "smoke": self.smoke.to_dict() if self.smoke else None,
            "last_known_good": self.last_known_good,
            "op_id": self.op_id,
            "notes": self.notes,
        }


def plan_rollback(registry: Registry, name: str, to: str | None = None, force: bool = False) -> RollbackPlan:
    """Decide the target: ``to`` if given (it must qualify unless ``force``), else the last known good."""
    names = registry.settings.aliases
    aliases = registry.aliases(name)
    current = aliases.get(names.production)
    if current is None:
        raise RollbackError(
            f"{name} has no production version, so there is nothing to roll back",
            f"promote one with `mlgate promote {name} VERSION --to production`",
        )
    versions = registry.versions(name)
    if to is not None:
        target = registry.version(name, to)
        if str(target.version) == current:
            raise RollbackError(f"v{to} is already production", "pick another version with --to")
        ok, why = lifecycle.qualifies_as_last_known_good(target)
        if not ok and not force:
            raise RollbackError(
                f"v{to} is not a safe rollback target: {why}",
                "pick a version that held production and passed its smoke test, or add --force",
            )
        why = f"chosen with --to; {why}" + ("" if ok else " (accepted with --force)")
    else:
        target = lifecycle.last_known_good(versions, current)
        if target is None:
            raise RollbackError(
                f"{name} has no last known good version to roll back to (production is v{current})",
                "no other version held production, passed its smoke test and was never rolled back; "
                "promote a fixed version, or pick one with --to VERSION --force",
            )
        why = "last known good: " + lifecycle.qualifies_as_last_known_good(target)[1]
    version = str(target.version)
    canary = aliases.get(names.canary)
    traffic = f"move alias {names.production!r} from v{current} to v{version}; gateways following the registry switch"
    if canary:
        traffic += f"; clear alias {names.canary!r} (v{canary}) so all traffic goes to v{version}"
    return RollbackPlan(
        model=name,
        from_version=current,
        to_version=version,
        why=why,
        traffic=traffic,
        smoke_test=describe_post_deploy_smoke(registry, name, version),
        canary=canary,
    )


def rollback(
    registry: Registry,
    name: str,
    to: str | None = None,
    reason: str | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> RollbackResult:
    """Move production back to the last known good version (or ``to``) and smoke-test it.

    The plan is made again under the lock, so two rollbacks at once cannot both move traffic.
    """
    plan = plan_rollback(registry, name, to, force)
    if dry_run:
        return RollbackResult(plan, dry_run=True)
    names = registry.settings.aliases
    reason = reason or "rollback"
    with registry.lock(name, f"rollback to v{plan.to_version}"):
        unfinished = interrupted_operation(registry, name, "rollback")
        if unfinished is not None:
            # A rollback died midway (we hold the lock, so its holder is gone): finish that one.
            plan = RollbackPlan(**unfinished.details["plan"])
        else:
            plan = plan_rollback(registry, name, to, force)
        event = Event(
            action="rollback",
            model=name,
            from_version=plan.from_version,
            to_version=plan.to_version,
            actor=registry.settings.actor,
            reason=reason,
            result="started",
            details={"plan": plan.to_dict(), "resumed": unfinished.op_id if unfinished else None},
            op_id=unfinished.op_id if unfinished else Event.new_op_id(),
        )
        registry.record_event(event)
        registry.set_alias(name, names.production, plan.to_version)
        if plan.canary:
            registry.delete_alias(name, names.canary)
        registry.delete_model_tag(name, keys.CANARY_WEIGHT)
        registry.set_version_tag(name, plan.from_version, keys.STATUS, lifecycle.ROLLED_BACK)
        registry.set_version_tag(name, plan.from_version, keys.ROLLED_BACK_REASON, reason)
        registry.set_version_tag(name, plan.to_version, keys.STATUS, "production")
        registry.set_version_tag(name, plan.to_version, keys.PRODUCTION_AT, utcnow())
        smoke = post_deploy_smoke(registry, name, plan.to_version)
        registry.set_version_tag(name, plan.to_version, keys.SMOKE, "passed" if smoke.passed else "failed")
        registry.set_version_tag(name, plan.to_version, keys.SMOKE_AT, utcnow())
        lkg = lifecycle.refresh_last_known_good(registry, name)
        event.result = "completed" if smoke.passed else "failed"
        event.at = utcnow()
        event.details = {**event.details, "smoke": smoke.to_dict(), "last_known_good": lkg}
        registry.record_event(event)
    result = RollbackResult(plan, False, smoke, lkg, event.op_id)
    if not smoke.passed:
        raise SmokeTestFailed(
            f"{name} rolled back to v{plan.to_version} but the smoke test failed: {smoke.summary()}",
            f"production is v{plan.to_version}; inspect it, then `mlgate rollback {name} --to VERSION`",
        )
    return result
