"""What a model's registry says: status (now or at a moment), history, which version answered, the runbook."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlgate.api.session import registry_or_connect
from mlgate.config import redact_uri
from mlgate.config.moments import parse_moment
from mlgate.registry import Event, LockInfo, Registry, keys, states
from mlgate.registry.pointintime import history_at, status_at
from mlgate.registry.timeline import AliasState
from mlgate.release import approvals
from mlgate.release.rollback.runbook import runbook as make_runbook
from mlgate.serving import answered


@dataclass(frozen=True)
class StatusReport:
    """Every alias of a model, the last known good version, and each version's state."""

    model: str
    tracking_uri: str
    aliases: dict[str, str]
    last_known_good: str | None
    versions: list[states.VersionState]
    lock: LockInfo | None = None
    canary_weight: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    at: AliasState | None = None  # `status --at`: the moment, and the transition behind each alias

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tracking_uri": self.tracking_uri,
            "aliases": self.aliases,
            "last_known_good": self.last_known_good,
            "canary_weight": self.canary_weight,
            "lock": self.lock.__dict__ if self.lock else None,
            "versions": [v.__dict__ for v in self.versions],
            **({"at": self.at.to_dict()} if self.at is not None else {}),
            **self.extra,
        }


def status(name: str, registry: Registry | None = None, at: str | float | datetime | None = None) -> StatusReport:
    """Aliases, last known good, and each version's status and gate state; ``at`` (ISO-8601, "2h ago"): as they
    were then, from the history, with the transition behind each alias (``report.at``)."""
    reg = registry_or_connect(registry)
    names = reg.settings.aliases
    if at is not None:
        past = status_at(reg, name, parse_moment(at))
        uri, state = redact_uri(reg.settings.tracking_uri), past.state
        return StatusReport(name, uri, past.aliases, past.last_known_good, past.versions, None, past.weight, at=state)
    model = reg.model(name)
    aliases = {a: str(v) for a, v in (model.aliases or {}).items()}
    versions = reg.versions(name)
    lkg = states.last_known_good(versions, aliases.get(names.production))
    return StatusReport(
        model=name,
        tracking_uri=redact_uri(reg.settings.tracking_uri),
        aliases=aliases,
        last_known_good=str(lkg.version) if lkg else None,
        versions=[states.state_of(mv, aliases, names) for mv in versions],
        lock=reg.lock_info(name),
        canary_weight=(model.tags or {}).get(keys.CANARY_WEIGHT),
        extra={"approvals": approvals.summaries(reg, name, versions)},
    )


def history(
    name: str,
    registry: Registry | None = None,
    at: str | float | datetime | None = None,
    limit: int | None = None,
    since: str | float | datetime | None = None,
    skip: int = 0,
) -> list[Event]:
    """Every transition of the model, newest first; ``at``: as the history read at that moment.

    ``limit``: the newest N only (after skipping ``skip``, for paging); ``since``: those that began then or later.
    Without ``at`` only the events asked for are read, so it stays fast on a long history."""
    reg = registry_or_connect(registry)
    start = parse_moment(since) if since is not None else None
    if at is not None:
        found = history_at(reg, name, parse_moment(at), None if limit is None else skip + limit, start)
        return [e for e in found if start is None or _began(e) >= start][skip:]
    return reg.events(name, limit=None if limit is None else skip + limit, since=start)[skip:]


def _began(event: Event) -> float:
    try:
        return datetime.fromisoformat(event.at).timestamp()
    except ValueError:
        return 0.0


def which(name: str, request_id: str, registry: Registry | None = None) -> answered.Answered:
    """Which version answered ``request_id`` (its X-Mlgate-Request-Id) and which transition put it there."""
    return answered.which(registry_or_connect(registry), name, request_id)


def runbook(name: str, now: datetime | None = None, registry: Registry | None = None) -> Any:
    """The rollback runbook of ``name`` as Markdown (the checklist's answers right now)."""
    return make_runbook(registry_or_connect(registry), name, now=now)
