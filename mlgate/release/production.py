"""The one way a version enters production: traffic through the router, status tags, smoke test, last known good.

Promote, rollout completion and rollback all call :func:`enter_production`; they differ only in
what they say about the version that leaves (archived, or rolled back with a reason) and in
whether a canary of another version keeps its share of traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlgate.exceptions import PermissionDenied
from mlgate.registry import keys, states, utcnow
from mlgate.release.smoke.deploy import post_deploy_smoke
from mlgate.release.smoke.result import SmokeResult

if TYPE_CHECKING:
    from mlgate.registry import Registry
    from mlgate.traffic import TrafficRouter


@dataclass(frozen=True)
class Leaving:
    """What becomes of the version production leaves: archived, or rolled back with the reason."""

    status: str = states.ARCHIVED
    reason: str | None = None

    @classmethod
    def rolled_back(cls, reason: str) -> Leaving:
        return cls(states.ROLLED_BACK, reason)


@dataclass
class Entered:
    """What entering production did."""

    version: str
    previous: str | None
    smoke: SmokeResult
    last_known_good: str | None
    notes: list[str] = field(default_factory=list)


def enter_production(
    registry: Registry,
    name: str,
    version: str,
    router: TrafficRouter,
    previous: str | None,
    leaving: Leaving | None = None,
    keep_other_canary: bool = True,
) -> Entered:
    """Make ``version`` production and prove it; the caller holds the model's lock and has recorded a started event.

    Traffic: when ``version`` is the canary, the router promotes the canary; otherwise it sets
    production (and clears a canary of another version unless ``keep_other_canary``). Then the
    version is tagged as holding production (with the time, unless it already was production:
    a resumed operation keeps the first time), the version that left gets ``leaving``'s status, a
    ``staging`` alias left on the version is removed, the post-deploy smoke test runs and is
    recorded, and the last-known-good alias is refreshed. Safe to run again after a failure.
    """
    version = str(version)
    leaving = leaving or Leaving()
    names = registry.settings.aliases
    aliases = registry.aliases(name)
    canary = aliases.get(names.canary)
    notes: list[str] = []
    if canary == version:
        router.promote_canary()
    else:
        router.set_production(version)
        if canary is not None and not keep_other_canary:
            router.clear_canary()
    registry.set_version_tag(name, version, keys.HELD_PRODUCTION, "true")
    registry.set_version_tag(name, version, keys.STATUS, "production")
    if previous != version:
        registry.set_version_tag(name, version, keys.PRODUCTION_AT, utcnow())
    if previous and previous != version:
        registry.set_version_tag(name, previous, keys.STATUS, leaving.status)
        if leaving.reason is not None:
            registry.set_version_tag(name, previous, keys.ROLLED_BACK_REASON, leaving.reason[:5000])
    if aliases.get(names.staging) == version:
        try:  # the version moved on from staging; deleting an alias needs MANAGE, moving one EDIT
            registry.delete_alias(name, names.staging)
        except PermissionDenied:
            notes.append(f"alias {names.staging!r} left on v{version}: deleting it needs MANAGE")
    smoke = post_deploy_smoke(registry, name, version)
    registry.set_version_tag(name, version, keys.SMOKE, "passed" if smoke.passed else "failed")
    registry.set_version_tag(name, version, keys.SMOKE_AT, utcnow())
    lkg = states.refresh_last_known_good(registry, name)
    return Entered(version, previous, smoke, lkg, notes)
