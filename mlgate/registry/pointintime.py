"""A model at a past moment (``--at``): its aliases, its versions' states and its history, from the timeline."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlgate.registry import history, keys, states
from mlgate.registry.timeline import ENTER_PRODUCTION, AliasState, Timeline, before_model_error
from mlgate.registry.window import earliest_before, newest, window

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

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


def timeline_at(registry: Registry, name: str, moment: float, ahead: float = 0.0) -> Timeline:
    """The slice of the model's history that settles its aliases at ``moment`` (mlgate.registry.window),
    refusing a moment before the model existed (ModelNotFound, exit 1)."""
    history = window(registry, name, moment, ahead=ahead)
    created = history.created
    if (created is None or moment < created) and not earliest_before(registry, name, moment):  # none yet then
        raise before_model_error(name, moment, created if created is not None else history.began)
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
        status = state.statuses.get(version) or _status_before(registry, name, mv, moment, held)
        for stage in ("production", "canary", "staging"):
            if getattr(names, stage) in held:
                status = stage
                break
        tags = mv.tags or {}
        rows.append(states.VersionState(version, status, held, tags.get(keys.OWNER), created=mv.creation_timestamp))
    return PastStatus(state, rows, state.aliases.get(names.last_known_good))


def _status_before(registry: Registry, name: str, mv: ModelVersion, moment: float, held: list[str]) -> str:
    """The status a version no operation of the slice touched had at ``moment``.

    A version that is a candidate now (or holds an alias then) was one then; else the newest operation
    aimed at it by then says: it failed a rollout, or it had entered production and left it since
    (rolled back when its record says so, else archived)."""
    now = (mv.tags or {}).get(keys.STATUS, states.CANDIDATE)
    if held or now in (states.CANDIDATE, "staging", "canary"):
        return states.CANDIDATE
    found = newest(registry, name, (*ENTER_PRODUCTION, "rollout-abort", "register"), moment, str(mv.version))
    if found is not None and found[1].action == "rollout-abort":
        return states.FAILED
    if found is not None and found[1].action in ENTER_PRODUCTION:
        return now if now in (states.ARCHIVED, states.ROLLED_BACK) else states.ARCHIVED
    return states.CANDIDATE


def history_at(
    registry: Registry, name: str, moment: float, limit: int | None = None, since: float | None = None
) -> list[Event]:
    """The history as it read at ``moment``, newest first (each operation at its phase then); ``limit``: the
    newest N only, ``since``: those recorded then or later. Reads only what it returns (and a few more)."""
    timeline_at(registry, name, moment)
    first = None if limit is None else 2 * limit + 2
    found = history.operations(history.records(registry, name, since=since, first=first, until=moment))
    return list(itertools.islice(found, limit))
