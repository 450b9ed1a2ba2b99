"""Which version answered a request (the gateway's prediction record) and which transition put it there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlgate.config import redact_uri
from mlgate.config.moments import iso
from mlgate.exceptions import NotRecorded
from mlgate.registry import timeline, window
from mlgate.serving.record import PredictionStore, default_store_url
from mlgate.serving.router import CANARY, PRODUCTION

if TYPE_CHECKING:
    from mlgate.registry import Registry
    from mlgate.registry.timeline import AliasState, Transition

ROUTE_ROLES = {PRODUCTION: timeline.PRODUCTION, CANARY: timeline.CANARY}
RECORDED_AFTER_SECONDS = 300.0  # an operation that records its move once done (rollout-complete) is read this far on


@dataclass(frozen=True)
class Answered:
    """One request: who answered it, and the history behind that answer."""

    model: str
    request_id: str
    at: float  # epoch seconds the gateway answered
    version: str
    route: str
    status: int
    latency_ms: float
    rows: int
    transition: Transition | None  # the transition that put ``version`` on ``route``
    state: AliasState  # the registry's aliases at that moment
    notes: list[str] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)  # other answers to it (a shadow's)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "request_id": self.request_id,
            "at": iso(self.at),
            "version": self.version,
            "route": self.route,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "rows": self.rows,
            "transition": self.transition.to_dict() if self.transition is not None else None,
            "state": self.state.to_dict(),
            "notes": list(self.notes),
            "others": [{**o, "ts": iso(o["ts"])} for o in self.others],
        }


def which(registry: Registry, name: str, request_id: str, store: PredictionStore | None = None) -> Answered:
    """The version that answered ``request_id`` for model ``name``, and the transition behind it.

    ``store``: the prediction record (default: the configured one). Raises NotRecorded when it has no
    such request for the model (naming the model that answered it, if another one did).
    """
    if store is None:
        settings = registry.settings
        store = PredictionStore(default_store_url(settings), settings.prediction_retention_rows)
        try:
            return which(registry, name, request_id, store)
        finally:
            store.close()
    request_id = request_id.strip()
    found = store.answers(request_id, name)
    if not found:
        elsewhere = sorted({str(a["model"]) for a in store.answers(request_id)})
        hint = (
            f"it was answered for {', '.join(elsewhere)}: `mlgate which {elsewhere[0]} {request_id}`"
            if elsewhere
            else "the id is in the gateway's X-Mlgate-Request-Id response header; the record keeps "
            "the newest prediction_retention_rows rows per version"
        )
        raise NotRecorded(f"no request {request_id!r} to {name} in the prediction record ({_store(store)})", hint)
    caller = next((a for a in found if a["route"] != "shadow"), found[0])
    others = [a for a in found if a is not caller]
    moment, version, route = float(caller["ts"]), str(caller["version"]), str(caller["route"])
    role = ROUTE_ROLES.get(route) or window.role_of(registry.settings.aliases, route)
    want = (role, version) if role is not None else None
    history = window.window(registry, name, moment, ahead=RECORDED_AFTER_SECONDS, want=want)  # bounded reads
    state = history.state_at(moment)
    if role == timeline.PRODUCTION and _holds(history, state, timeline.CANARY, version):
        role = timeline.CANARY  # a pinned gateway behind a load balancer records every answer as production
    placed, after = history.placed(role, version, moment) if role is not None else (None, False)
    notes = _notes(history, state, role, version, moment, placed, after)
    for other in others:
        notes.append(f"also answered on route {other['route']} by v{other['version']} (not returned to the caller)")
    return Answered(
        name, request_id, moment, version, route, int(caller["status"]), float(caller["latency_ms"]),
        int(caller["rows"]), placed, state, notes, others,
    )  # fmt: skip


def _notes(
    history: timeline.Timeline,
    state: AliasState,
    role: str | None,
    version: str,
    moment: float,
    placed: Transition | None,
    after: bool,
) -> list[str]:
    notes: list[str] = []
    if role is None:
        return ["this route is not carried by an alias mlgate manages"]
    alias = history.alias_of(role)
    held = state.aliases.get(alias)
    if placed is None:
        notes.append(f"no transition in the history put v{version} in {alias!r} (moved before mlgate recorded it?)")
    elif after:
        notes.append(
            f"the move was recorded when {placed.action} finished, {placed.began - moment:.1f} s after this "
            "request (an operation records its move once it is done)"
        )
    elif placed.action == timeline.UNMANAGED_CHANGE:
        notes.append(f"v{version} was put in {alias!r} outside mlgate (MLflow UI or a raw client)")
    if held is not None and held != version and not after:
        since = state.set_by.get(alias)
        ago = f", {moment - since.effective:.1f} s before" if since is not None else ""
        notes.append(
            f"the registry's {alias!r} was already v{held} at that moment{ago}: the gateway follows the "
            "registry every poll_interval_seconds (or it was started with --version)"
        )
    for running in state.in_progress:
        notes.append(f"under way at that moment: {running.describe()}")
    return notes


def _holds(history: timeline.Timeline, state: AliasState, role: str, version: str) -> bool:
    """True when ``version`` held ``role``'s alias, and not production's, at that moment."""
    held = state.aliases
    return held.get(history.alias_of(role)) == version and held.get(history.alias_of(timeline.PRODUCTION)) != version


def _store(store: PredictionStore) -> str:
    return redact_uri(store.url)
