"""Alias moves made outside mlgate: tell them from mlgate's own (from the timeline), record them once, alert.

A move of ``alias`` to ``version`` (None: deleted) at server time ``at`` is *managed* when an mlgate
operation made it: the operation running then (its phases span ``at``, give or take a slack for
clocks), else the newest one begun before it, moved that alias to that version (for an alias
carrying a stage, exactly as the timeline's fold says; for any other alias, any version it
targeted). Anything else is recorded in the history as ``unmanaged-alias-change``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlgate.alerts import Alert
from mlgate.registry import Event, timeline, window

if TYPE_CHECKING:
    from mlgate.alerts import AlertRouter, Notification
    from mlgate.registry import Registry
    from mlgate.registry.timeline import Timeline, Transition

UNMANAGED_ACTION = timeline.UNMANAGED_CHANGE
REVERTED_ACTION = timeline.UNMANAGED_REVERTED
IGNORED_ACTIONS = (UNMANAGED_ACTION, "register")  # they move no alias mlgate made
CLOCK_SLACK_SECONDS = 2.0
REDELIVERY_SECONDS = 24 * 3600.0  # unmanaged changes read back this far to record a redelivered move once
PUT_BACK = "put back alias"  # the purpose of the lock the receiver holds to put a protected alias back
_MISSING = object()


def lock_explains(registry: Registry, name: str) -> str | None:
    """The mlgate operation holding the model's lock right now, as an explanation, or None.

    The receiver's own put-back (mlgate.team.protect) explains nothing but its own move, which its event does.
    """
    lock = registry.lock_info(name)
    if lock is not None and lock.expires > time.time() and not lock.purpose.startswith(PUT_BACK):
        return f"mlgate operation in progress: {lock.purpose} by {lock.holder}"
    return None


def _made_it(tr: Transition, role: str | None, version: str | None) -> bool:
    if role is None:  # an alias that carries no stage: any version the operation targeted
        return version is None or version in {str(e.to_version) for _, e in tr.phases if e.to_version}
    if tr.moves.get(role, _MISSING) == version:
        return True
    if role == timeline.LAST_KNOWN_GOOD and version is not None:  # refreshed midway, before the event said so
        return version in {str(tr.event.from_version), str(tr.details.get("last_known_good"))}
    return False


def explained_by(
    history: Timeline, alias: str, version: str | None, at: float, slack: float = CLOCK_SLACK_SECONDS
) -> str | None:
    """The mlgate operation in ``history`` that moved ``alias`` to ``version`` at ``at``, or None."""
    ops = [t for t in history.transitions if t.action not in IGNORED_ACTIONS]
    candidates = [t for t in ops if t.began - slack <= at <= t.ended + slack]
    before = [t for t in ops if t.began <= at]
    if before:
        candidates.append(max(before, key=lambda t: t.began))
    role = history.role_of(alias)
    for tr in candidates:
        if _made_it(tr, role, version):
            return f"mlgate {tr.action} (op {tr.op_id})"
    return None


def recent_history(
    registry: Registry, name: str, at: float, slack: float = CLOCK_SLACK_SECONDS, managed_only: bool = False
) -> Timeline:
    """What an alias event at ``at`` needs of the history, read bounded (mlgate.registry.window): every
    alias-moving operation since just before it, the unmanaged changes MLflow may still redeliver, and
    back to the operation that settled each stage (``managed_only``: the last move mlgate made)."""
    since = at - slack - 1.0
    recent = dict.fromkeys(window.MOVING, since)
    recent[UNMANAGED_ACTION] = min(since, at - REDELIVERY_SECONDS)
    return window.window(registry, name, managed_only=managed_only, recent=recent)


def moved(alias: str, version: str | None) -> str:
    """``alias 'production' set to v3`` / ``alias 'canary' deleted``."""
    return f"alias {alias!r} set to v{version}" if version else f"alias {alias!r} deleted"


def recorded_change(history: Timeline, delivery_id: str) -> Transition | None:
    """The unmanaged change already recorded for this delivery (MLflow redelivers on failure)."""
    for tr in history.transitions:
        if tr.action == UNMANAGED_ACTION and tr.details.get("delivery_id") == delivery_id:
            return tr
    return None


def record_change(
    registry: Registry,
    history: Timeline,
    name: str,
    alias: str,
    version: str | None,
    payload: Mapping[str, Any],
    delivery_id: str,
) -> Event | None:
    """Record the unmanaged move once per delivery; None when this delivery was recorded before."""
    if recorded_change(history, delivery_id) is not None:
        return None
    event = Event(
        action=UNMANAGED_ACTION,
        model=name,
        to_version=version,
        actor="outside mlgate",
        reason=f"{moved(alias, version)} outside mlgate (MLflow UI or a raw client)",
        details={
            "alias": alias,
            "event": f"{payload.get('entity')}.{payload.get('action')}",
            "delivery_id": delivery_id,
            "server_time": payload.get("timestamp"),
        },
    )
    registry.record_event(event)
    return event


def alert_owner(
    alerts: AlertRouter | None,
    name: str,
    signal: str,
    summary: str,
    details: dict[str, Any],
    version: str | None,
    resolved: bool = False,
) -> str | None:
    """Tell the model's owner on duty; ``resolved`` (the alias is back) clears it at once so the next one alerts."""
    if alerts is None:
        return None
    note: Notification = alerts.fire(
        Alert(model=name, signal=signal, severity="warning", summary=summary, details=details, version=version)
    )
    if resolved and note.action != "unrouted":
        alerts.resolve(name, signal)
    return note.action
