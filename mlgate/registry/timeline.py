"""A model's history folded into which version held each alias (and the canary weight) at any moment.

The one place events become alias state. Each operation (one op id, one or more phases recorded under keys
``<time ns>.<op id>.<result>``, see mlgate.registry.history) is a :class:`Transition`; the fold gives each the
aliases it moved (``moves``: role -> version, None when it removed the alias). An operation with a
``started`` phase moved its aliases somewhere between its first and last phase: at a moment in
between it is *in progress*. A move seen by the webhook receiver (``unmanaged-alias-change``)
counts from the server's time of the move.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlgate.config.moments import iso
from mlgate.exceptions import ModelNotFound
from mlgate.registry import history
from mlgate.registry.events import Event

if TYPE_CHECKING:
    from mlgate.config import Aliases
    from mlgate.registry.client import Registry

PRODUCTION, CANARY, STAGING, LAST_KNOWN_GOOD = "production", "canary", "staging", "last_known_good"
SHADOW = "shadow"  # a rollout's shadow step: mirrored production requests, answering no one
ROLES = (PRODUCTION, CANARY, SHADOW, STAGING, LAST_KNOWN_GOOD)  # fields of config.Aliases that carry a stage
UNMANAGED_CHANGE = "unmanaged-alias-change"  # an alias moved outside mlgate, seen by the webhook receiver
UNMANAGED_REVERTED = "unmanaged-alias-reverted"  # mlgate put a protected alias back
# The actions that move aliases (written by mlgate.release; the names are part of the history's format).
ENTER_PRODUCTION = ("promote-production", "rollout-complete", "rollback")
CANARY_WEIGHT_SET = ("rollout-start", "rollout-step", "rollout-resume")
CANARY_REMOVED = ("rollout-abort", "rollback-canary")
LAST_KNOWN_GOOD_REFRESHED = ("promote-staging", *ENTER_PRODUCTION, "rollback-canary")  # details.last_known_good
LEAVING_STATUS = {"rollback": "rolled-back"}  # what production's previous version became (default archived)
_MISSING = object()


def _epoch(text: Any) -> float | None:
    try:
        moment = datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


@dataclass
class Transition:
    """One operation of the model's history: its phases (recorded time, event), and what it moved."""

    op_id: str
    phases: list[tuple[float, Event]]  # oldest first
    moves: dict[str, str | None] = field(default_factory=dict)  # role -> version; None: alias removed
    weight: float | None = None  # the canary weight it set, when it set the canary
    statuses: dict[str, str] = field(default_factory=dict)  # version -> status it gave (candidate, archived...)

    @property
    def event(self) -> Event:
        """The latest phase."""
        return self.phases[-1][1]

    @property
    def action(self) -> str:
        return self.event.action

    @property
    def began(self) -> float:
        return self.phases[0][0]

    @property
    def ended(self) -> float:
        return self.phases[-1][0]

    @property
    def finished(self) -> bool:
        return self.event.result != "started"

    @property
    def details(self) -> dict[str, Any]:
        """Every phase's details, later phases winning."""
        merged: dict[str, Any] = {}
        for _, event in self.phases:
            merged.update(event.details or {})
        return merged

    @property
    def effective(self) -> float:
        """When its moves count as made: the server's time of a move seen by the receiver, else its last phase."""
        if self.action == UNMANAGED_CHANGE:
            return _epoch(self.details.get("server_time")) or self.began
        return self.ended

    def phase_at(self, moment: float) -> Event | None:
        """The phase that was the latest at ``moment`` (None before the first)."""
        seen = [event for at, event in self.phases if at <= moment]
        return seen[-1] if seen else None

    def describe(self) -> str:
        e = self.event
        moved = f"v{e.from_version} -> v{e.to_version}" if e.from_version else f"v{e.to_version}"
        return f"{e.action} {moved} at {iso(self.began)[:19].replace('T', ' ')} by {e.actor} (op {self.op_id})"

    def to_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "op_id": self.op_id, "action": e.action, "from_version": e.from_version, "to_version": e.to_version,
            "actor": e.actor, "reason": e.reason, "result": e.result, "began": iso(self.began),
            "ended": iso(self.ended), "moves": dict(self.moves),
        }  # fmt: skip


@dataclass(frozen=True)
class AliasState:
    """Which version held each alias at one moment, the canary weight, and the transitions behind them."""

    model: str
    at: float
    aliases: dict[str, str]  # MLflow alias name -> version
    canary_alias: str
    canary_weight: float | None  # percent of traffic to the canary (None without one)
    set_by: dict[str, Transition]  # alias name -> the transition that put it there
    in_progress: list[Transition]  # operations under way at that moment (their moves may or may not be made)
    statuses: dict[str, str]  # version -> status from the history (versions it knows, registered by then)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "aliases": dict(self.aliases),
            "canary_weight": self.canary_weight,
            "set_by": {alias: t.to_dict() for alias, t in self.set_by.items()},
            "in_progress": [t.to_dict() for t in self.in_progress],
            "statuses": dict(self.statuses),
        }

    def describe(self) -> str:
        """One line: ``production v2, canary v3 at 25%, last-known-good v1``."""
        parts = []
        for alias, version in self.aliases.items():  # production, canary, staging, last known good
            weight = self.canary_weight if alias == self.canary_alias else None
            parts.append(f"{alias} v{version}" + (f" at {weight:g}%" if weight is not None else ""))
        return ", ".join(parts) or "no aliases"


class Timeline:
    """Every transition of one model, folded once; ask it for the state at any moment."""

    def __init__(
        self,
        model: str,
        names: Aliases,
        transitions: Iterable[Transition],
        created: float | None = None,
        settled: frozenset[str] | None = None,
    ) -> None:
        self.model = model
        self.names = names
        self.roles = tuple(r for r in ROLES if hasattr(names, r))
        self.transitions = sorted(transitions, key=lambda t: (t.effective if t.finished else t.began, t.began))
        self.created = created
        self.settled = settled  # a recent slice (mlgate.registry.window): the roles a managed operation in it settled
        self._fold()

    @classmethod
    def load(cls, registry: Registry, name: str) -> Timeline:
        """Read the model (its creation time) and its whole history once, and fold it."""
        model = registry.model(name)
        created = (model.creation_timestamp / 1000.0) if getattr(model, "creation_timestamp", None) else None
        return cls(name, registry.settings.aliases, transitions_from_records(registry.event_records(name)), created)

    # --- names ----------------------------------------------------------------------------------
    def alias_of(self, role: str) -> str:
        return str(getattr(self.names, role))

    def role_of(self, alias: str | None) -> str | None:
        """The stage an MLflow alias name carries (None for an alias mlgate does not manage)."""
        return next((r for r in self.roles if self.alias_of(r) == alias), None)

    @property
    def began(self) -> float | None:
        """When the model came to exist: its creation, or its first recorded event if that is earlier."""
        times = [tr.began for tr in self.transitions] + ([self.created] if self.created is not None else [])
        return min(times) if times else None

    # --- the fold ---------------------------------------------------------------------------------
    def _fold(self) -> None:
        state: dict[str, str | None] = {}
        for tr in self.transitions:
            _moves_of(tr, state, self.role_of)
            for role, version in tr.moves.items():
                state[role] = version

    def state_at(self, moment: float, managed_only: bool = False) -> AliasState:
        """The aliases at ``moment``; ``managed_only`` leaves out moves made outside mlgate (where mlgate put them)."""
        held: dict[str, str | None] = {}
        set_by: dict[str, Transition] = {}
        statuses: dict[str, str] = {}
        in_progress: list[Transition] = []
        for tr in self.transitions:
            if not tr.finished or tr.effective > moment:  # not made yet at that moment
                if tr.began <= moment:
                    in_progress.append(tr)
                continue
            if managed_only and tr.action == UNMANAGED_CHANGE:
                continue
            statuses.update(tr.statuses)
            for role, version in tr.moves.items():
                held[role] = version
                set_by[role] = tr
        aliases = {self.alias_of(r): v for r in self.roles if (v := held.get(r)) is not None}
        canary = set_by.get(CANARY) if held.get(CANARY) is not None else None
        return AliasState(
            self.model,
            moment,
            aliases,
            self.alias_of(CANARY),
            canary.weight if canary is not None else None,
            {self.alias_of(r): t for r, t in set_by.items() if held.get(r) is not None},
            in_progress,
            statuses,
        )

    def known(self, role: str, managed_only: bool = True) -> bool:
        """Whether the history ever set or removed ``role``'s alias (else it cannot say where it belongs)."""
        if self.settled is not None and role in self.settled:
            return True
        return any(
            role in t.moves and t.finished and not (managed_only and t.action == UNMANAGED_CHANGE)
            for t in self.transitions
        )

    def unfinished(self, role: str | None = None) -> list[Transition]:
        """Operations that started and never finished (their process died), optionally only those moving ``role``."""
        return [t for t in self.transitions if not t.finished and (role is None or role in t.moves)]

    def placed(self, role: str, version: str, moment: float) -> tuple[Transition | None, bool]:
        """The transition that put ``version`` in ``role``'s alias for a request at ``moment``.

        The newest one that began by then; else (a move recorded only when its operation finished,
        such as ``rollout-complete``) the first one after, flagged True.
        """
        putting = [t for t in self.transitions if t.moves.get(role, _MISSING) == version]
        before = [t for t in putting if t.began <= moment]
        if before:
            return max(before, key=lambda t: t.began), False
        after = [t for t in putting if t.began > moment]
        return (min(after, key=lambda t: t.began), True) if after else (None, False)

    def events_at(self, moment: float) -> list[Event]:
        """The history as it read at ``moment``: each operation begun by then at its phase then, newest first."""
        seen = [(tr.phase_at(moment), tr) for tr in self.transitions]
        ordered = sorted(((e, t) for e, t in seen if e is not None), key=lambda p: p[1].began, reverse=True)
        return [event for event, _ in ordered]


def transitions_from_tags(tags: dict[str, str]) -> list[Transition]:
    """Group the event tags of a registered model (the format before `mlgate migrate`) into transitions."""
    return transitions_from_records(reversed(history.legacy(tags)))


def transitions_from_records(records: Iterable[tuple[str, Event]]) -> list[Transition]:
    """Group recorded phases ((key, event), oldest first) into transitions (phases in recorded order)."""
    found: dict[str, Transition] = {}
    for key, event in records:
        try:
            at = history.key_seconds(key)
        except (ValueError, TypeError):
            continue
        if event.op_id in found:
            found[event.op_id].phases.append((at, event))
        else:
            found[event.op_id] = Transition(event.op_id, [(at, event)])
    return list(found.values())


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _moves_of(tr: Transition, state: dict[str, str | None], role_of: Callable[[str | None], str | None]) -> None:
    """Fill ``tr.moves``, ``tr.weight`` and ``tr.statuses`` from its action, given the aliases before it."""
    action, details = tr.action, tr.details
    to = str(tr.event.to_version) if tr.event.to_version is not None else None
    moves: dict[str, str | None] = {}
    if action == "register" and to:
        tr.statuses[to] = "candidate"
    elif action == "promote-staging" and to:
        moves[STAGING] = to
    elif action in ENTER_PRODUCTION and to:
        previous = state.get(PRODUCTION, tr.event.from_version)  # in a slice of the history: as the event says
        moves[PRODUCTION] = to
        if state.get(CANARY) is not None and (state.get(CANARY) == to or action == "rollback"):
            moves[CANARY] = None
        left = " left on " in str(details.get("note", "")) + " ".join(map(str, details.get("notes") or []))
        if state.get(STAGING) == to and not left:
            moves[STAGING] = None
        if previous and previous != to:
            tr.statuses[previous] = LEAVING_STATUS.get(action, "archived")
        if action == "rollout-complete" and state.get(SHADOW) == to:  # a plan shadow,100
            moves[SHADOW] = None
    elif action in CANARY_WEIGHT_SET and to:
        weight = _number(details.get("weight"))
        if weight is not None and weight > 0:
            moves[CANARY] = to
            tr.weight = weight
            if state.get(SHADOW) == to:  # the first canary step ends the shadow step
                moves[SHADOW] = None
        elif weight == 0:  # the shadow step (mlgate.release.rollout.policy.SHADOW)
            moves[SHADOW] = to
    elif action in CANARY_REMOVED:
        if state.get(CANARY) is not None:
            moves[CANARY] = None
        if action == "rollout-abort" and to and state.get(SHADOW) == to:
            moves[SHADOW] = None
        if action == "rollout-abort" and to:
            tr.statuses[to] = "failed"
    elif action in (UNMANAGED_CHANGE, UNMANAGED_REVERTED):
        role = role_of(details.get("alias"))
        if role is not None:
            moves[role] = to
            if role == CANARY and to is not None:
                tr.weight = _number(details.get("weight"))
    if "last_known_good" in details and action in LAST_KNOWN_GOOD_REFRESHED:
        lkg = details.get("last_known_good")
        moves[LAST_KNOWN_GOOD] = str(lkg) if lkg else None
    tr.moves = moves


def settles(tr: Transition, role_of: Callable[[str | None], str | None]) -> set[str]:
    """The roles whose alias a finished operation leaves where it alone says, whatever held them before.

    The bounded reads (mlgate.registry.window) stop once every role is settled. A rollout's start, end or
    abort settles the shadow alias and its end the canary too (mlgate runs one rollout at a time)."""
    action, details = tr.action, tr.details
    found: set[str] = set()
    if not tr.finished:
        return found
    if action == "promote-staging" and tr.event.to_version is not None:
        found.add(STAGING)
    elif action in ENTER_PRODUCTION and tr.event.to_version is not None:
        found.add(PRODUCTION)
        found |= {CANARY} if action == "rollback" else {CANARY, SHADOW} if action == "rollout-complete" else set()
    elif action in CANARY_WEIGHT_SET and tr.event.to_version is not None:
        weight = _number(details.get("weight"))
        found |= {CANARY} if weight is not None and weight > 0 else {SHADOW} if weight == 0 else set()
        if action == "rollout-start":
            found.add(SHADOW)
    elif action in CANARY_REMOVED:
        found |= {CANARY, SHADOW} if action == "rollout-abort" else {CANARY}
    elif action in (UNMANAGED_CHANGE, UNMANAGED_REVERTED):
        role = role_of(details.get("alias"))
        found |= {role} if role is not None else set()
    if "last_known_good" in details and action in LAST_KNOWN_GOOD_REFRESHED:
        found.add(LAST_KNOWN_GOOD)
    return found


def load(registry: Registry, name: str) -> Timeline:
    """The timeline of ``name`` (ModelNotFound when there is no such model)."""
    return Timeline.load(registry, name)


def before_model_error(name: str, moment: float, began: float | None) -> ModelNotFound:
    """The error for a moment before the model existed."""
    since = f"its history begins at {iso(began)}" if began is not None else "it has no history"
    return ModelNotFound(
        f"model {name!r} did not exist yet at {iso(moment)}: {since}",
        f"give a later --at, or see `mlgate history {name}`",
    )
