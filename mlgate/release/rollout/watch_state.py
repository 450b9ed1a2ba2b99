"""The post-promotion watch's records: its state on the model (tag ``mlgate.watch``), verdicts, events, alert.

Kept apart from watch.py (which rolls back, so imports the rollback) so that `rollout status` can show a
watch without importing the rollback.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlgate.alerts import Alert, AlertRouter
from mlgate.registry import Event, keys
from mlgate.registry.stored import load_tagged, save_tagged
from mlgate.release.rollout.analysis import Criterion, RouteFigures

if TYPE_CHECKING:
    from mlgate.registry import Registry

WATCHING = "watching"  # judged every poll period until ends_at
BREACHED = "breached"  # a breach is recorded, the rollback not yet finished: a resumed watch finishes it
COMPLETED = "completed"  # the watch ran its length without a breach
ROLLED_BACK = "rolled-back"  # a breach moved production back to the last known good
FAILED = "failed"  # a breach, but the automatic rollback was refused or failed: the owner was alerted
SUPERSEDED = "superseded"  # production moved by other means before the watch ended
PAUSED = "paused"  # max_inconclusive inconclusive looks in a row: waits for a person (`mlgate watch NAME`)
ACTIVE = (WATCHING, BREACHED)
WATCH_SIGNAL = "production.watch"  # the alert signal of a watch breach


@dataclass(frozen=True)
class Verdict:
    """One look at production: its figures since the change against the previous version's before it."""

    decision: str  # pass | fail | inconclusive (analysis.PASS / FAIL / INCONCLUSIVE)
    reason: str
    before: RouteFigures  # the previous production version, before the change
    after: RouteFigures  # the watched version, over the judged window
    criteria: list[Criterion] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    baseline_since: str | None = None
    baseline_until: str | None = None
    source: str = "record"  # record | prometheus <url>

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(
            **{
                **data,
                "before": RouteFigures(**data["before"]),
                "after": RouteFigures(**data["after"]),
                "criteria": [Criterion(**c) for c in data.get("criteria", [])],
            }
        )

    def summary(self) -> str:
        parts = [f"{self.decision.upper()}: {self.reason}"]
        for c in self.criteria:
            parts.append(f"{c.name} {({True: 'ok', False: 'BREACH', None: 'n/a'})[c.passed]} ({c.detail})")
        return "; ".join(parts)


@dataclass
class WatchState:
    """One watch as stored in the registry; ``production_at`` (the version's tag) tells one stay in production
    from the next, so a watch is resumed only for the change it was started for."""

    model: str
    version: str  # the production version watched
    baseline: str  # the production version before it (its record is the baseline)
    production_at: str  # the watched version's mlgate.production_at when the watch started
    since: float  # when production changed: the baseline's record ends here, the watched one starts
    started_at: float
    seconds: float
    status: str = WATCHING
    trigger: str = "watch"  # rollout (`rollout run` went on into it) | watch (`mlgate watch`)
    actor: str = "unknown"
    checks: int = 0  # looks at the record
    judged: int = 0  # looks with enough requests to decide
    last_check_at: float | None = None
    last_verdict: dict[str, Any] | None = None
    breach_at: float | None = None  # when the breach was decided
    ended_at: float | None = None
    outcome: str | None = None
    rollback: dict[str, Any] | None = None  # what the automatic rollback did (op id, to, smoke) or why not
    alert: dict[str, Any] | None = None
    inconclusive: int = 0  # inconclusive looks in a row, one per bake period (watch_pause.py)
    inconclusive_at: float | None = None  # when the streak's last one was counted

    @property
    def ends_at(self) -> float:
        return self.started_at + self.seconds

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def verdict(self) -> Verdict | None:
        return Verdict.from_dict(self.last_verdict) if self.last_verdict else None

    def is_for(self, version: str | None, production_at: str | None) -> bool:
        """Whether this watch is of ``version``'s current stay in production."""
        return self.version == version and self.production_at == (production_at or "")


def load_watch(registry: Registry, name: str) -> WatchState | None:
    """The watch stored on the model (the latest, whatever its status), or None."""
    return load_tagged(
        registry, name, keys.WATCH, WatchState, "watch state",
        f"inspect it in the MLflow UI, or delete the tag and run `mlgate watch {name}` again",
    )  # fmt: skip


def save_watch(registry: Registry, state: WatchState) -> None:
    """Write the watch's state whole."""
    save_tagged(registry, state.model, keys.WATCH, state)


def record_watch_event(
    registry: Registry, state: WatchState, action: str, result: str = "completed", **details: Any
) -> Event:
    """Record ``watch-start``, ``watch-breach`` or ``watch-end`` in the model's history."""
    event = Event(
        action=action,
        model=state.model,
        from_version=state.baseline,
        to_version=state.version,
        actor=registry.settings.actor,
        reason=details.pop("reason", None),
        result=result,
        details={"status": state.status, "seconds": state.seconds, "trigger": state.trigger, **details},
    )
    registry.record_event(event)
    return event


def alert_owner(registry: Registry, state: WatchState, status: str) -> dict[str, Any]:
    """Tell the owner on duty what the watch found and did; returns what happened (never raises)."""
    info = state.rollback or {}
    if status == ROLLED_BACK:
        did = f"rolled back to v{info.get('to_version')}" + (
            " (its smoke test FAILED)" if info.get("smoke_passed") is False else ""
        )
    elif status == FAILED:
        did = f"the automatic rollback was refused ({info.get('error')}): decide now (`mlgate rollback {state.model}`)"
    else:
        did = str(info.get("error", "nothing was moved"))
    try:
        router = AlertRouter(registry.settings, registry=registry, attempts=2, backoff=0.2, timeout=3.0)
        note = router.fire(
            Alert(
                model=state.model,
                signal=WATCH_SIGNAL,
                severity="critical",
                summary=f"production v{state.version} of {state.model} breached its watch ({state.outcome}); {did}",
                details={"evidence": state.last_verdict, "rollback": info, "baseline": state.baseline},
                version=state.version,
            )
        )
    except Exception as exc:  # noqa: BLE001 - an alert failure must never stop a rollback
        return {"action": "failed", "error": f"{type(exc).__name__}: {exc}"}
    keep = ("action", "owner", "person", "period", "delivered", "error")
    return {k: v for k, v in note.to_dict().items() if k in keep}
