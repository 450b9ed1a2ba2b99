"""Protected aliases: a protected alias moved outside mlgate is put back where mlgate's history says it belongs.

``protected_aliases`` in mlgate.yaml says, per stage, ``revert`` or ``alert``. To revert, the
receiver takes the model's lock (so it waits for any mlgate operation under way, and never moves
an alias while mlgate is moving it), reads the history again, and compares the alias with where
the history's managed moves put it: production and canary through the TrafficRouter, the last
known good recomputed from the versions' records, staging as a label; a rollout under way (the
``mlgate.rollout`` state) says where the canary belongs. It records an
``unmanaged-alias-reverted`` event and alerts the owner. It does nothing when the alias is
already where it belongs, and refuses (alerting) when the history cannot say: an mlgate
operation that never finished, or a stage the history never set.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import MlgateError
from mlgate.registry import Event, keys, states, timeline, utcnow
from mlgate.registry.timeline import CANARY, LAST_KNOWN_GOOD, PRODUCTION, Timeline
from mlgate.team.unmanaged import (
    CLOCK_SLACK_SECONDS,
    PUT_BACK,
    REVERTED_ACTION,
    UNMANAGED_ACTION,
    alert_owner,
    explained_by,
    moved,
    recent_history,
    record_change,
)
from mlgate.traffic import router_for

if TYPE_CHECKING:
    from mlgate.alerts import AlertRouter
    from mlgate.registry import Registry
    from mlgate.traffic import TrafficRouter

REVERT, ALERT = "revert", "alert"


def stage_of(registry: Registry, alias: str) -> str | None:
    """The stage an MLflow alias name carries (a field of config.Aliases), or None."""
    names = registry.settings.aliases
    return next((r for r in timeline.ROLES if getattr(names, r, None) == alias), None)


def protection(registry: Registry, alias: str) -> str:
    """``revert`` or ``alert`` for an MLflow alias name (``alert`` for aliases that carry no stage)."""
    stage = stage_of(registry, alias)
    return registry.settings.protected_aliases.mode(stage) if stage else ALERT


def _rollout(tags: Mapping[str, str]) -> tuple[str, str | None, float | None] | None:
    """(status, version, weight) of the rollout stored on the model (mlgate.release.rollout.state), if any."""
    try:
        data = json.loads(tags[keys.ROLLOUT])
        weight = float(data["steps"][int(data["step"])])
        return str(data["status"]), str(data["version"]), weight
    except (KeyError, ValueError, TypeError, IndexError):
        return None


@dataclass(frozen=True)
class Belongs:
    """Where a stage's alias belongs by the history: a version, or None (absent); ``problem`` when it cannot say."""

    version: str | None
    weight: float | None = None
    problem: str | None = None


def where_it_belongs(reading: Registry, history: Timeline, stage: str, aliases: Mapping[str, str]) -> Belongs:
    """Where mlgate's history puts ``stage``'s alias now (call it under the model's lock)."""
    pending = [t for t in history.unfinished(stage) if t.action != REVERTED_ACTION]  # a dead put-back: do it again
    if pending:
        return Belongs(None, problem=f"an mlgate operation never finished ({pending[-1].describe()}): run it again")
    rollout = _rollout(reading.model_tags(history.model))
    if rollout is not None and rollout[0] == "completing":
        return Belongs(None, problem=f"the rollout of v{rollout[1]} is completing: `mlgate rollout run` finishes it")
    if stage == CANARY and rollout is not None:  # the stored rollout is mlgate's intent for the canary
        status, version, weight = rollout
        live = status in ("running", "paused") and weight is not None and weight > 0
        return Belongs(version, weight) if live else Belongs(None)
    if stage == LAST_KNOWN_GOOD:  # defined by the versions' records, not by a move
        production = aliases.get(history.alias_of(PRODUCTION))
        good = states.last_known_good(reading.versions(history.model), production)
        return Belongs(str(good.version) if good is not None else None)
    if not history.known(stage):
        return Belongs(None, problem=f"mlgate's history never set the {history.alias_of(stage)!r} alias")
    state = history.state_at(math.inf, managed_only=True)
    version = state.aliases.get(history.alias_of(stage))
    if version is None and stage == PRODUCTION:
        return Belongs(None, problem="mlgate's history has no production version to put back")
    weight = state.canary_weight if stage == CANARY else None
    if stage == CANARY and version is not None and not weight:
        return Belongs(None, problem="mlgate's history does not say the canary's weight")
    return Belongs(version, weight)


def _move_back(registry: Registry, name: str, stage: str, alias: str, to: Belongs, router: Any) -> None:
    if stage == PRODUCTION and to.version is not None:
        router_for(registry, name, router).set_production(to.version)
    elif stage == CANARY:
        traffic = router_for(registry, name, router)
        if to.version is None:
            traffic.clear_canary()
        else:
            traffic.set_canary(to.version, float(to.weight or 0))
    elif stage == LAST_KNOWN_GOOD:
        states.refresh_last_known_good(registry, name)
    elif to.version is None:
        registry.delete_alias(name, alias)
    else:
        registry.set_alias(name, alias, to.version)


@dataclass(frozen=True)
class Protected:
    """What the receiver did about one alias event of a protected alias."""

    managed: bool
    recorded: bool
    why: str
    restored: str | None = None  # the version put back ("none": the alias removed)
    alert: str | None = None


def put_back(
    registry: Registry,
    name: str,
    alias: str,
    version: str | None,
    at: float,
    payload: Mapping[str, Any],
    delivery_id: str,
    alerts: AlertRouter | None = None,
    router: TrafficRouter | None = None,
    slack: float = CLOCK_SLACK_SECONDS,
) -> Protected:
    """Handle an event of a protected alias: under the lock, record it if no mlgate operation made it, and put
    the alias back if it is not where the history says. Safe to run again (a redelivery changes nothing).

    An event an mlgate operation explains, of an alias that is where the history says, needs no lock.
    """
    stage = stage_of(registry, alias) or timeline.STAGING  # only aliases that carry a stage are protected
    reading = states.ReadOnce(registry)
    history = recent_history(reading, name, at, slack, managed_only=True)  # bounded reads
    explained = explained_by(history, alias, version, at, slack)
    aliases = reading.aliases(name)
    if explained and _settled(where_it_belongs(reading, history, stage, aliases), aliases.get(alias)):
        return Protected(True, False, explained)
    with registry.lock(name, f"{PUT_BACK} {alias!r} moved outside mlgate"):
        reading = states.ReadOnce(registry)  # aliases, tags and history from one read, under the lock
        history = recent_history(reading, name, at, slack, managed_only=True)
        aliases = reading.aliases(name)
        explained = explained_by(history, alias, version, at, slack)
        change = None if explained else record_change(registry, history, name, alias, version, payload, delivery_id)
        recorded = change is not None
        current = aliases.get(alias)
        belongs = where_it_belongs(reading, history, stage, aliases)
        about = {"alias": alias, "delivery_id": delivery_id, "found": current}
        if _settled(belongs, current):
            if explained:
                return Protected(True, False, explained)
            covered = any(t.action == REVERTED_ACTION and t.began >= at - slack for t in history.transitions)
            summary = f"{name}: {moved(alias, version)} outside mlgate (back since)"
            note = (
                None
                if covered or not recorded
                else alert_owner(alerts, name, UNMANAGED_ACTION, summary, about, version)
            )
            return Protected(False, recorded, f"{moved(alias, version)} outside mlgate; already back", alert=note)
        what = f"alias {alias!r} found on v{current}" if explained else moved(alias, version)
        if belongs.problem is not None:
            summary = f"{name}: {what} outside mlgate, not put back: {belongs.problem}"
            note = alert_owner(alerts, name, UNMANAGED_ACTION, summary, about, version)
            return Protected(False, recorded, f"not put back: {belongs.problem}", alert=note)
        died = [t for t in history.unfinished(stage) if t.action == REVERTED_ACTION]
        event = Event(
            action=REVERTED_ACTION,
            model=name,
            from_version=current,
            to_version=belongs.version,
            actor=registry.settings.actor,
            reason=f"{what} outside mlgate; protected_aliases says revert: put back to {_shown(belongs.version)}",
            result="started",
            details={**about, "weight": belongs.weight},
            op_id=died[-1].op_id if died else Event.new_op_id(),  # finish a put-back that died midway
        )
        registry.record_event(event)  # before the move: its own webhook event is then explained by it
        try:
            _move_back(registry, name, stage, alias, belongs, router)
        except MlgateError as exc:  # e.g. no permission to move it: the owner must know it stays moved
            summary = f"{name}: {what} outside mlgate; could not put it back: {exc.message}"
            alert_owner(alerts, name, UNMANAGED_ACTION, summary, about, version)
            raise
        event.result, event.at = "completed", utcnow()
        registry.record_event(event)
    summary = f"{name}: {what} outside mlgate; put back to {_shown(belongs.version)}"
    note = alert_owner(alerts, name, REVERTED_ACTION, summary, about, belongs.version, resolved=True)
    restored = belongs.version or "none"
    return Protected(False, recorded, f"put back to {_shown(belongs.version)} (op {event.op_id})", restored, note)


def _settled(belongs: Belongs, current: str | None) -> bool:
    return belongs.problem is None and belongs.version == current


def _shown(version: str | None) -> str:
    return f"v{version}" if version else "no version (alias removed)"
