"""Bounded reads of a model's history: the recent slice that settles every alias at a moment, folded by the timeline.

The state at a moment T needs, per stage (production, canary and its weight, shadow, staging, last
known good), only the newest operation at or before T that left that alias where it alone says
(mlgate.registry.timeline.settles). So instead of the whole history, this reads newest first from
T backwards, one server-filtered stream per action that moves an alias (events written the old way,
as tags of the registered model, merged in), and stops as soon as every stage is settled; each
operation met keeps all its phases. A stage no operation ever set ends its streams. What it reads
therefore depends on how far back the last move of each stage lies, not on the history's length.
The slice is folded by mlgate.registry.timeline, the one place events become alias state.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlgate.registry import history
from mlgate.registry.timeline import (
    CANARY,
    CANARY_REMOVED,
    CANARY_WEIGHT_SET,
    ENTER_PRODUCTION,
    LAST_KNOWN_GOOD,
    LAST_KNOWN_GOOD_REFRESHED,
    PRODUCTION,
    ROLES,
    SHADOW,
    STAGING,
    UNMANAGED_CHANGE,
    UNMANAGED_REVERTED,
    Timeline,
    Transition,
    settles,
    transitions_from_records,
)

if TYPE_CHECKING:
    from mlgate.config import Aliases
    from mlgate.registry.client import Registry

# Every action that moves an alias (the fold in mlgate.registry.timeline gives no other action a move).
_MOVERS = ("promote-staging", *ENTER_PRODUCTION, *CANARY_WEIGHT_SET, *CANARY_REMOVED, UNMANAGED_CHANGE)
MOVING = tuple(dict.fromkeys((*_MOVERS, UNMANAGED_REVERTED)))
PLACING = {  # the actions that can put a given version in a stage's alias (for `mlgate which`)
    PRODUCTION: (*ENTER_PRODUCTION, UNMANAGED_CHANGE, UNMANAGED_REVERTED),
    CANARY: (*CANARY_WEIGHT_SET, UNMANAGED_CHANGE, UNMANAGED_REVERTED),
    SHADOW: (*CANARY_WEIGHT_SET, UNMANAGED_CHANGE, UNMANAGED_REVERTED),
    STAGING: ("promote-staging", UNMANAGED_CHANGE, UNMANAGED_REVERTED),
}
SETTLED_BY = {  # the actions whose operations can settle a stage (mlgate.registry.timeline.settles)
    PRODUCTION: (*ENTER_PRODUCTION, UNMANAGED_CHANGE, UNMANAGED_REVERTED),
    CANARY: (*CANARY_WEIGHT_SET, *CANARY_REMOVED, *ENTER_PRODUCTION, UNMANAGED_CHANGE, UNMANAGED_REVERTED),
    SHADOW: (*CANARY_WEIGHT_SET, *CANARY_REMOVED, *ENTER_PRODUCTION, UNMANAGED_CHANGE, UNMANAGED_REVERTED),
    STAGING: ("promote-staging", UNMANAGED_CHANGE, UNMANAGED_REVERTED),
    LAST_KNOWN_GOOD: (*LAST_KNOWN_GOOD_REFRESHED, UNMANAGED_CHANGE, UNMANAGED_REVERTED),
}
SEEN_LATE_SECONDS = 600.0  # the receiver records a move seen outside mlgate after it happened: read this far on
# One server-filtered stream per pattern (MLflow filters are AND-only): six reads cover the moving actions;
# rollout-pause, the only other action they match, is dropped as read.
STREAMS = {
    "promote-%": ("promote-staging", "promote-production"),
    "rollback%": ("rollback", "rollback-canary"),
    "rollout-s%": ("rollout-start", "rollout-step"),
    "rollout-%e": ("rollout-resume", "rollout-complete"),
    "rollout-abort": ("rollout-abort",),
    "unmanaged-alias-%": (UNMANAGED_CHANGE, UNMANAGED_REVERTED),
}
FIRST_PAGE = 10  # runs in each stream's first read: most stages are settled by the newest few operations
Record = tuple[str, history.Event]


def stream_of(action: str) -> str:
    """The stream (its action pattern) that reads ``action``."""
    return next(pattern for pattern, actions in STREAMS.items() if action in actions)


class _Stream:
    """The phases of a pattern's moving actions (optionally of one version), newest first, at ``until`` or earlier."""

    def __init__(
        self,
        registry: Registry,
        name: str,
        action: str,
        until: float | None,
        old: list[Record],
        version: str | None = None,
    ) -> None:
        self._actions = STREAMS.get(action, (action,))
        legacy = [r for r in old if version is None or str(r[1].to_version) == version]
        runs = history.stored(registry, name, version=version, action=action, first=FIRST_PAGE, until=until)
        self._records: Iterator[Record] = heapq.merge(runs, legacy, key=lambda r: r[0], reverse=True)
        self._until, self._seen = until, set[str]()
        self.head: Record | None = None
        self.pop()

    def pop(self) -> Record | None:
        """The head, moving on to the next phase."""
        taken = self.head
        self.head = None
        for key, event in self._records:
            if key in self._seen or (self._until is not None and history.key_seconds(key) > self._until):
                continue
            if event.action not in self._actions:  # another action the pattern matches, or a legacy tag
                continue
            self._seen.add(key)
            self.head = (key, event)
            break
        return taken

    def skip_to(self, actions: tuple[str, ...]) -> bool:
        """Move on to the newest phase of one of ``actions``; False when there is none."""
        while self.head is not None and self.head[1].action not in actions:
            self.pop()
        return self.head is not None

    def head_at(self) -> float | None:
        return history.key_seconds(self.head[0]) if self.head is not None else None


def role_of(names: Aliases, alias: str | None) -> str | None:
    """The stage an MLflow alias name carries (None for an alias mlgate does not manage)."""
    return next((r for r in ROLES if getattr(names, r, None) == alias), None)


def window(
    registry: Registry,
    name: str,
    at: float | None = None,
    ahead: float = 0.0,
    managed_only: bool = False,
    recent: dict[str, float] | None = None,
    want: tuple[str, str] | None = None,
) -> Timeline:
    """The timeline of ``name`` (ModelNotFound without it) holding only what its state at ``at`` (None: now) needs.

    ``ahead``: seconds after ``at`` also read (operations that recorded a move once they were done);
    ``managed_only``: settle each stage by a move mlgate made (where the history says it belongs);
    ``recent``: action -> epoch seconds, every phase of that action since then is read too;
    ``want``: (stage, version) whose placing operation at or before ``at`` must be in the slice.
    """
    model = registry.model(name)
    created = (model.creation_timestamp / 1000.0) if getattr(model, "creation_timestamp", None) else None
    names = registry.settings.aliases
    until = None if at is None else at + ahead
    late = None if until is None else until + SEEN_LATE_SECONDS  # an unmanaged move counts from when it was made
    old = history.legacy(dict(model.tags or {}), until=late)
    unmanaged = stream_of(UNMANAGED_CHANGE)
    streams = {p: _Stream(registry, name, p, late if p == unmanaged else until, old) for p in STREAMS}
    need = {r for r in ROLES if hasattr(names, r)}
    settled: set[str] = set()
    managed: set[str] = set()
    phases: dict[str, list[Record]] = {}

    def take(stream: _Stream) -> None:
        record = stream.pop()
        assert record is not None
        key, event = record
        newest = Transition(event.op_id, [(history.key_seconds(key), event)])
        if event.op_id not in phases and (at is None or newest.effective <= at):  # made by then
            roles = settles(newest, lambda alias: role_of(names, alias))
            settled.update(roles)
            if event.action != UNMANAGED_CHANGE:
                managed.update(roles)
        phases.setdefault(event.op_id, []).append(record)

    def done() -> bool:
        ended = {r for r in need if all(streams[stream_of(a)].head is None for a in SETTLED_BY.get(r, MOVING))}
        return need <= (managed if managed_only else settled) | ended  # settled, or never set before

    while not done():
        live = [s for s in streams.values() if s.head is not None]
        if not live:
            break
        take(max(live, key=lambda s: s.head[0] if s.head is not None else ""))
    back_to: dict[str, float] = {}
    for action, since in (recent or {}).items():
        back_to[stream_of(action)] = min(since, back_to.get(stream_of(action), since))
    for pattern, since in back_to.items():
        stream = streams[pattern]
        while (when := stream.head_at()) is not None and when >= since:
            take(stream)
    for stream in streams.values():  # the older phases of the operations met (one action per operation)
        while stream.head is not None and stream.head[1].op_id in phases:
            take(stream)
    timeline = _timeline(name, names, phases, created, frozenset(managed))
    if want is not None and at is not None and want[0] in PLACING:
        placed, after = timeline.placed(want[0], want[1], at)
        if placed is None or after:
            extra = _placing(registry, name, want, at, old)
            if extra:
                phases = {**extra, **phases}
                timeline = _timeline(name, names, phases, created, frozenset(managed))
    return timeline


def _timeline(
    name: str, names: Aliases, phases: dict[str, list[Record]], created: float | None, settled: frozenset[str]
) -> Timeline:
    ordered = sorted((r for found in phases.values() for r in found), key=lambda r: r[0])  # oldest first
    return Timeline(name, names, transitions_from_records(ordered), created, settled=settled)


def newest(
    registry: Registry, name: str, actions: tuple[str, ...], at: float, version: str, old: list[Record] | None = None
) -> Record | None:
    """The newest phase of one of ``actions`` aimed at ``version``, recorded at ``at`` or earlier."""
    if old is None:
        old = history.legacy(registry.model_tags(name), until=at)
    heads: list[Record] = []
    for pattern in dict.fromkeys(stream_of(a) if a in MOVING else a for a in actions):
        stream = _Stream(registry, name, pattern, at, old, version)
        if stream.skip_to(actions) and stream.head is not None:
            heads.append(stream.head)
    return max(heads, key=lambda r: r[0]) if heads else None


def _placing(
    registry: Registry, name: str, want: tuple[str, str], at: float, old: list[Record]
) -> dict[str, list[Record]]:
    """The newest operation at or before ``at`` that put the version in the stage's alias (all its phases)."""
    role, version = want
    found = newest(registry, name, PLACING[role], at, version, old)
    if found is None:
        return {}
    stream = _Stream(registry, name, stream_of(found[1].action), at, old, version)
    phases: list[Record] = []
    while stream.head is not None and (stream.head[1].op_id == found[1].op_id or not phases):
        record = stream.pop()
        assert record is not None
        if record[1].op_id == found[1].op_id:
            phases.append(record)
    return {found[1].op_id: phases}


def earliest_before(registry: Registry, name: str, moment: float) -> bool:
    """Whether the model has any event recorded at ``moment`` or earlier (one small read)."""
    if history.legacy(registry.model_tags(name), until=moment):
        return True
    exp = history.experiment_id(registry, name)
    if exp is None:
        return False
    term = f"attributes.start_time <= {int(moment * 1000)}"
    return bool(registry.call("reading the history", registry.client.search_runs, [exp], term, max_results=1))
