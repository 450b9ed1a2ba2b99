"""Stage transitions: promote a version to staging or production, behind the gate and the lock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import SmokeTestFailed, UsageError
from mlgate.registry import Event, interrupted_operation, keys, states, utcnow
from mlgate.release.gating import ensure_gate, ensure_no_canary_needed
from mlgate.release.production import enter_production
from mlgate.release.smoke.result import SmokeResult
from mlgate.traffic import router_for

if TYPE_CHECKING:
    from mlgate.registry import Registry
    from mlgate.traffic import TrafficRouter

STAGES = ("staging", "production")


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion did."""

    model: str
    version: str
    stage: str
    previous: str | None
    forced: bool
    changed: bool
    gate: str
    smoke: SmokeResult | None
    last_known_good: str | None
    op_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "stage": self.stage,
            "previous": self.previous,
            "forced": self.forced,
            "changed": self.changed,
            "gate": self.gate,
            "smoke": self.smoke.to_dict() if self.smoke else None,
            "last_known_good": self.last_known_good,
            "op_id": self.op_id,
        }


def promote(
    registry: Registry,
    name: str,
    version: str,
    stage: str,
    force: bool = False,
    reason: str | None = None,
    router: TrafficRouter | None = None,
) -> PromotionResult:
    """Move ``stage``'s alias to ``version``, record the event and, for production, smoke-test it.

    The stage needs a passing gate report for the version under the current policy (the gate
    runs now when there is none), unless ``force`` with a ``reason``, which is recorded as such.
    Production traffic moves through ``router`` (default: the configured one, see mlgate.traffic).
    Safe to run again after a failure.
    """
    if stage not in STAGES:
        raise UsageError(f"unknown stage {stage!r}", f"use one of: {', '.join(STAGES)}")
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason", 'say why, e.g. --reason "hotfix for incident 123"')
    version = str(version)
    names = registry.settings.aliases
    alias = getattr(names, stage)
    registry.version(name, version)  # fails early, naming the versions that exist
    traffic = router_for(registry, name, router) if stage == "production" else None

    gate_note = ensure_gate(registry, name, version, stage, force=force)
    if stage == "production" and not force:
        ensure_no_canary_needed(registry, name, version)  # risky changes go through `mlgate rollout`

    with registry.lock(name, f"promote v{version} to {stage}"):
        reading = states.ReadOnce(registry)  # aliases and history from one read, under the lock
        previous = reading.aliases(name).get(alias)
        unfinished = interrupted_operation(reading, name, f"promote-{stage}")
        resuming = unfinished is not None and unfinished.to_version == version
        if unfinished is not None and resuming:
            previous = unfinished.from_version  # finish the promotion that died midway
        event = Event(
            action=f"promote-{stage}",
            model=name,
            from_version=previous,
            to_version=version,
            actor=registry.settings.actor,
            reason=reason,
            result="started",
            details={"gate": gate_note, "forced": force},
            op_id=unfinished.op_id if unfinished is not None and resuming else Event.new_op_id(),
        )
        registry.record_event(event)
        smoke = None
        if traffic is not None:
            entered = enter_production(registry, name, version, traffic, previous)
            smoke, lkg = entered.smoke, entered.last_known_good
            if entered.notes:
                event.details["note"] = "; ".join(entered.notes)
            event.details["smoke"] = smoke.to_dict()
        else:
            registry.set_alias(name, alias, version)  # staging is a label, not traffic
            registry.set_version_tag(name, version, keys.STATUS, stage)
            lkg = states.refresh_last_known_good(registry, name)
        event.result = "completed" if smoke is None or smoke.passed else "failed"
        event.at = utcnow()
        event.details = {**event.details, "last_known_good": lkg}
        registry.record_event(event)

    result = PromotionResult(
        name, version, stage, previous, force, previous != version, gate_note, smoke, lkg, event.op_id
    )
    if smoke is not None and not smoke.passed:
        raise SmokeTestFailed(
            f"{name} v{version} is in production but its smoke test failed: {smoke.summary()}",
            f"roll back with `mlgate rollback {name}`",
        )
    return result
