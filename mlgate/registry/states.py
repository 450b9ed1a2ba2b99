"""A version's lifecycle state, derived from aliases and tags, and the last known good version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from mlgate.registry import Registry, keys

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

    from mlgate.config import Aliases

T = TypeVar("T")

CANDIDATE = "candidate"
ARCHIVED = "archived"
ROLLED_BACK = "rolled-back"
FAILED = "failed"


@dataclass(frozen=True)
class VersionState:
    """One version as a person reads it in `mlgate status`."""

    version: str
    status: str
    aliases: list[str]
    owner: str | None
    gates: dict[str, str] = field(default_factory=dict)
    smoke: str | None = None
    held_production: bool = False
    rolled_back_reason: str | None = None
    created: int | None = None


def status_of(mv: ModelVersion, aliases: dict[str, str], names: Aliases) -> str:
    """The live stage from aliases (production > canary > staging), else the status tag."""
    held = [alias for alias, v in aliases.items() if v == str(mv.version)]
    for stage in (names.production, names.canary, names.staging):
        if stage in held:
            return {names.production: "production", names.canary: "canary", names.staging: "staging"}[stage]
    status = (mv.tags or {}).get(keys.STATUS, CANDIDATE)
    if status in ("production", "canary", "staging"):
        return ARCHIVED  # the tag is stale: the alias has moved on
    return status


def state_of(mv: ModelVersion, aliases: dict[str, str], names: Aliases) -> VersionState:
    tags = mv.tags or {}
    gates = {
        key[len("mlgate.gate.") :]: value
        for key, value in tags.items()
        if key.startswith("mlgate.gate.") and key.count(".") == 2
    }
    return VersionState(
        version=str(mv.version),
        status=status_of(mv, aliases, names),
        aliases=sorted(a for a, v in aliases.items() if v == str(mv.version)),
        owner=tags.get(keys.OWNER),
        gates=gates,
        smoke=tags.get(keys.SMOKE),
        held_production=tags.get(keys.HELD_PRODUCTION) == "true",
        rolled_back_reason=tags.get(keys.ROLLED_BACK_REASON),
        created=mv.creation_timestamp,
    )


def qualifies_as_last_known_good(mv: ModelVersion) -> tuple[bool, str]:
    """Whether a version may be rolled back to, and why (or why not)."""
    tags = mv.tags or {}
    if tags.get(keys.HELD_PRODUCTION) != "true":
        return False, "it never held production"
    if tags.get(keys.ROLLED_BACK_REASON):
        return False, f"it was rolled back: {tags[keys.ROLLED_BACK_REASON]}"
    if tags.get(keys.SMOKE) != "passed":
        return False, "its post-deploy smoke test did not pass"
    return True, f"held production until {tags.get(keys.PRODUCTION_AT, '?')}, smoke test passed, never rolled back"


def last_known_good(versions: list[ModelVersion], production: str | None) -> ModelVersion | None:
    """The version, other than production, that most recently held production, passed its
    smoke test and was never rolled back for a failure."""
    good = [mv for mv in versions if str(mv.version) != production and qualifies_as_last_known_good(mv)[0]]
    if not good:
        return None
    return max(good, key=lambda mv: ((mv.tags or {}).get(keys.PRODUCTION_AT, ""), int(mv.version)))


class ReadOnce(Registry):
    """The registry, read once: each registered model (its aliases, tags, events, rollout state) is
    fetched at most once and shared by every helper that reads it, until a write goes through here.

    For one decision taken from one reading (a rollback plan, the last known good): make it where
    the decision is made (under the lock when there is one) and drop it afterwards. Writes made
    through another Registry object are not seen.
    """

    _READS = frozenset(
        {"get_registered_model", "search_registered_models", "search_model_versions", "get_model_version"}
        | {"search_runs", "get_experiment_by_name"}  # the history (mlgate.registry.history)
    )

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry.client, registry.settings, registry.clock)
        self.history_experiments = registry.history_experiments  # ids that never change: shared
        self._models: dict[str, RegisteredModel] = {}

    def model(self, name: str) -> RegisteredModel:
        if name not in self._models:
            self._models[name] = super().model(name)
        return self._models[name]

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if getattr(fn, "__name__", "") not in self._READS:
            self._models.clear()  # a write: read again next time
        return super().call(what, fn, *args, **kwargs)


def read_once(registry: Registry) -> ReadOnce:
    """``registry`` as a ReadOnce (itself if it already is one)."""
    return registry if isinstance(registry, ReadOnce) else ReadOnce(registry)


def refresh_last_known_good(registry: Registry, name: str) -> str | None:
    """Point the last-known-good alias at the right version (or remove it); return that version."""
    names = registry.settings.aliases
    reading = ReadOnce(registry)  # aliases and versions from one read of the model
    aliases = reading.aliases(name)
    lkg = last_known_good(reading.versions(name), aliases.get(names.production))
    if lkg is None:
        if names.last_known_good in aliases:
            reading.delete_alias(name, names.last_known_good)
        return None
    if aliases.get(names.last_known_good) != str(lkg.version):
        reading.set_alias(name, names.last_known_good, str(lkg.version))
    return str(lkg.version)
