"""Stage transitions: promote a version to staging or production, behind the gate and the lock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import GateFailed, PermissionDenied, SmokeTestFailed, UsageError
from mlgate.gate import gate_record
from mlgate.registry import Event, interrupted_operation, keys, states, utcnow
from mlgate.release.smoke.checks import SmokeResult, post_deploy_smoke

if TYPE_CHECKING:
    from mlgate.registry import Registry

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


# --- the release gate ------------------------------------------------------------------
GATED_STAGES = ("staging", "canary", "production")


def gate_required(stage: str) -> bool:
    """Which stages need a passing gate report before an alias may move there: all of them."""
    return stage in GATED_STAGES


def ensure_gate(registry: Registry, name: str, version: str, stage: str, force: bool = False) -> str:
    """Pass the gate of ``stage`` for ``version``, or raise GateFailed listing the failed checks.

    A passing report for the same version under the same policy hash is reused; otherwise the
    gate runs now and its report is stored on the version. ``force`` skips a gate that has not
    passed (the caller records the bypass). Returns "passed", or the FORCED note to record.
    """
    if not gate_required(stage):
        return "not required"
    record = gate_record(registry, name, version, stage)
    if record.passed:
        return "passed"
    if force:
        return f"FORCED past the gate: {record.explain()}"
    from mlgate.gate.engine import run_gate
    from mlgate.gate.policy import policy_files
    from mlgate.gate.report import store_report

    if not policy_files(registry.settings, name):
        raise GateFailed(
            f"{name} v{version} cannot go to {stage}: {record.explain()}, and there is no release policy "
            "(mlflow_config/policy.yaml) to run it under",
            "create the policy (see README: The release gate), or bypass with --force --reason",
        )
    report = store_report(registry, run_gate(registry, name, version, stage))
    if report.passed:
        return "passed"
    failures = "\n".join(f"  ✗ {r.name}: {r.evidence}" for r in report.failures) or "  (no check ran)"
    raise GateFailed(
        f"{name} v{version} cannot go to {stage}: {report.summary()}\n{failures}",
        f"fix the failed checks (report {report.artifacts.get('html')}), then promote again; "
        "or bypass with --force --reason",
    )


def promote(
    registry: Registry,
    name: str,
    version: str,
    stage: str,
    force: bool = False,
    reason: str | None = None,
) -> PromotionResult:
    """Move ``stage``'s alias to ``version``, record the event and, for production, smoke-test it.

    The stage needs a passing gate report for the version under the current policy (the gate
    runs now when there is none), unless ``force`` with a ``reason``, which is recorded as such.
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

    gate_note = ensure_gate(registry, name, version, stage, force=force)
    if stage == "production" and not force:
        from mlgate.release.gating import ensure_no_canary_needed

        ensure_no_canary_needed(registry, name, version)  # risky changes go through `mlgate rollout`

    with registry.lock(name, f"promote v{version} to {stage}"):
        reading = states.ReadOnce(registry)  # aliases and history from one read, under the lock
        aliases = reading.aliases(name)
        previous = aliases.get(alias)
        unfinished = interrupted_operation(reading, name, f"promote-{stage}")
        if unfinished is not None and unfinished.to_version == version:
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
            op_id=unfinished.op_id if unfinished and unfinished.to_version == version else Event.new_op_id(),
        )
        registry.record_event(event)
        registry.set_alias(name, alias, version)
        smoke = None
        if stage == "production":
            registry.set_version_tag(name, version, keys.HELD_PRODUCTION, "true")
            registry.set_version_tag(name, version, keys.STATUS, "production")
            if previous != version:
                registry.set_version_tag(name, version, keys.PRODUCTION_AT, utcnow())
            if previous and previous != version:
                registry.set_version_tag(name, previous, keys.STATUS, states.ARCHIVED)
            if aliases.get(names.staging) == version:
                try:  # the version moved on from staging; deleting an alias needs MANAGE, moving one EDIT
                    registry.delete_alias(name, names.staging)
                except PermissionDenied:
                    event.details["note"] = f"alias {names.staging!r} left on v{version}: deleting it needs MANAGE"
            if aliases.get(names.canary) == version:
                registry.delete_alias(name, names.canary)
                registry.delete_model_tag(name, keys.CANARY_WEIGHT)
            smoke = post_deploy_smoke(registry, name, version)
            registry.set_version_tag(name, version, keys.SMOKE, "passed" if smoke.passed else "failed")
            registry.set_version_tag(name, version, keys.SMOKE_AT, utcnow())
        else:
            registry.set_version_tag(name, version, keys.STATUS, stage)
        lkg = states.refresh_last_known_good(registry, name)
        event.result = "completed" if smoke is None or smoke.passed else "failed"
        event.at = utcnow()
        event.details = {**event.details, "last_known_good": lkg}
        if smoke is not None:
            event.details["smoke"] = smoke.to_dict()
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
