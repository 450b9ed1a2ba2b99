"""A model at a past moment (``--at``): its aliases, its versions' states and its history, from the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlgate.registry import keys, states
from mlgate.registry.timeline import AliasState, Timeline, before_model_error

if TYPE_CHECKING:
    from mlgate.registry.client import Registry
    from mlgate.registry.events import Event


@dataclass(frozen=True)
class PastStatus:
    """What `mlgate status --at` shows: the aliases then, and the versions that existed then."""

    state: AliasState
    versions: list[states.VersionState]
    last_known_good: str | None

    @property
    def aliases(self) -> dict[str, str]:
        return self.state.aliases

    @property
    def weight(self) -> str | None:
        """The canary weight as `mlgate status` shows it (None without a canary)."""
        return None if self.state.canary_weight is None else f"{self.state.canary_weight:g}"


def timeline_at(registry: Registry, name: str, moment: float) -> Timeline:
    """The model's timeline, refusing a moment before the model existed (ModelNotFound, exit 1)."""
    history = Timeline.load(registry, name)
    if history.began is None or moment < history.began:
        raise before_model_error(name, moment, history.began)
    return history


def status_at(registry: Registry, name: str, moment: float) -> PastStatus:
    """Aliases (with the transitions that set them) and each version registered by ``moment``, as they were."""
    history = timeline_at(registry, name, moment)
    state = history.state_at(moment)
    names = registry.settings.aliases
    rows = []
    for mv in registry.versions(name):
        created = (mv.creation_timestamp or 0) / 1000.0
        version = str(mv.version)
        if created > moment and version not in state.statuses:
            continue
        held = sorted(a for a, v in state.aliases.items() if v == version)
        status = state.statuses.get(version, states.CANDIDATE)
        for stage in ("production", "canary", "staging"):
            if getattr(names, stage) in held:
                status = stage
                break
        tags = mv.tags or {}
        rows.append(states.VersionState(version, status, held, tags.get(keys.OWNER), created=mv.creation_timestamp))
    return PastStatus(state, rows, state.aliases.get(names.last_known_good))


def history_at(registry: Registry, name: str, moment: float) -> list[Event]:
    """The history as it read at ``moment``, newest first (each operation at its phase then)."""
    return timeline_at(registry, name, moment).events_at(moment)
