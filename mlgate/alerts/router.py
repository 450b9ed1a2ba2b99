"""AlertRouter: fire and resolve alerts for a model, de-duplicated, escalated, with an outbox of failed deliveries.

    router = AlertRouter(settings, session=requests.Session())
    router.fire(Alert(model="fraud", signal="canary.error_rate", severity="critical",
                      summary="canary aborted: error rate 12% > 2%", details={...}))
    router.resolve("fraud", "canary.error_rate")
    router.flush()            # retry deliveries that failed earlier (monitor passes call it)

State (what is firing, what was sent, failed deliveries) lives in a JSON file
(default ``<project>/.mlgate/alerts/state.json``) so cron-run passes de-duplicate too; fire, resolve and
flush each hold its lock from load to save, so passes running at once keep each other's updates.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlgate.alerts.delivery import DeliveryResult, log, send
from mlgate.alerts.platforms import ALERTMANAGER, STATEFUL_KINDS
from mlgate.alerts.routing import OnDuty, Route, Target, _target, load_owners, on_duty
from mlgate.alerts.statelock import exclusive
from mlgate.config import Settings
from mlgate.exceptions import ConfigError, MlgateError
from mlgate.registry import Registry, keys

OUTBOX_MAX_AGE_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Alert:
    """A condition on a model that a person should act on."""

    model: str
    signal: str
    severity: str = "warning"  # info | warning | critical
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    value: float | None = None
    threshold: float | None = None
    owner: str | None = None  # default: the version's (or production's) mlgate.owner tag

    @property
    def key(self) -> str:
        return f"{self.model}::{self.signal}"


@dataclass
class Notification:
    """What the router did with one fire / resolve call."""

    alert: str
    action: str  # sent | deduplicated | escalated | resolved | not-firing | unrouted (no owner route: see error)
    owner: str | None = None
    person: str | None = None
    period: str | None = None
    deliveries: list[DeliveryResult] = field(default_factory=list)
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return bool(self.deliveries) and all(d.ok for d in self.deliveries)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["delivered"] = self.delivered
        return data


def default_state_path(settings: Settings) -> Path:
    """Where alert state is kept: .mlgate/alerts/state.json next to the config folder (or in HOME)."""
    base = settings.config_dir.parent if settings.config_dir is not None else Path.home()
    return base / ".mlgate" / "alerts" / "state.json"


class AlertRouter:
    """Routes alerts to the owner on duty and delivers them; never raises on a delivery failure."""

    def __init__(
        self,
        settings: Settings,
        session: Any = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        state_path: str | Path | None = None,
        registry: Any = None,
        attempts: int = 3,
        backoff: float = 0.5,
        timeout: float = 5.0,
    ) -> None:
        if session is None:
            import requests

            session = requests.Session()
        self.settings = settings
        self.session = session
        self.clock = clock
        self.sleep = sleep
        self.state_path = Path(state_path) if state_path else default_state_path(settings)
        self._registry = registry
        self.attempts, self.backoff, self.timeout = attempts, backoff, timeout

    # --- state ------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            data = {}
        return {"firing": data.get("firing", {}), "outbox": data.get("outbox", [])}

    def _save(self, state: dict[str, Any]) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True, default=str))
        os.replace(tmp, self.state_path)

    def firing(self) -> dict[str, dict[str, Any]]:
        """Alerts firing now, by key (model::signal)."""
        return dict(self._load()["firing"])

    def outbox(self) -> list[dict[str, Any]]:
        """Deliveries that failed and wait to be retried."""
        return list(self._load()["outbox"])

    # --- routing ----------------------------------------------------------------------
    def owner_of(self, model: str, version: str | None = None) -> str:
        """The model's owner from its model card (tag mlgate.owner) on ``version`` or on production."""
        if self._registry is None:
            self._registry = Registry.from_settings(self.settings)
        reg = self._registry
        if version is None:
            version = reg.aliases(model).get(self.settings.aliases.production)
        if version is None:
            versions = reg.versions(model)
            version = str(versions[0].version) if versions else None
        owner = (reg.version(model, version).tags or {}).get(keys.OWNER) if version else None
        if not owner:
            raise ConfigError(f"{model} v{version} has no owner tag ({keys.OWNER})", "register it with a model card")
        return str(owner)

    def duty(self, alert: Alert) -> OnDuty:
        return on_duty(self.settings, alert.owner or self.owner_of(alert.model, alert.version), self._now())

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _links(self, alert: Alert) -> list[dict[str, str]]:
        """Where a person reads more: the monitoring report, the version in MLflow's UI (when served over HTTP)."""
        links = []
        if alert.details.get("report"):
            links.append({"name": "report", "href": str(alert.details["report"]), "text": "monitoring report"})
        uri = re.sub(r"://[^/@]+@", "://", self.settings.tracking_uri or "").rstrip("/")  # never a password
        if uri.startswith(("http://", "https://")) and alert.version:
            href = f"{uri}/#/models/{alert.model}/versions/{alert.version}"
            links.append({"name": "mlflow", "href": href, "text": f"{alert.model} v{alert.version} in MLflow"})
        return links

    def _message(
        self, alert: Alert, event: str, duty: OnDuty, person: str, since: float | None = None
    ) -> dict[str, Any]:
        started = datetime.fromtimestamp(since if since is not None else self.clock(), UTC)
        return {
            "event": f"alert.{event}",
            "id": alert.key,
            "model": alert.model,
            "version": alert.version,
            "signal": alert.signal,
            "severity": alert.severity,
            "summary": alert.summary or f"{alert.signal} on {alert.model}",
            "value": alert.value,
            "threshold": alert.threshold,
            "details": alert.details,
            "owner": duty.owner,
            "person": person,
            "period": duty.period,
            "sent_at": self._now().isoformat(timespec="seconds"),
            "started_at": started.isoformat(timespec="seconds"),
            "links": self._links(alert),
        }

    def _deliver(self, state: dict[str, Any], route: Route, message: dict[str, Any]) -> list[DeliveryResult]:
        results = []
        for target in route.targets:
            if target.kind in STATEFUL_KINDS:  # this message supersedes an unsent older one about the same alert
                state["outbox"] = [
                    item for item in state["outbox"]
                    if not (item["target"] == target.name and item["message"].get("id") == message["id"])
                ]  # fmt: skip
            result = send(
                self.session, target, message, self.attempts, self.backoff, self.timeout, self.sleep, self.clock
            )
            results.append(result)
            if not result.ok:
                state["outbox"].append(
                    {"target": target.name, "message": message, "attempts": result.attempts,
                     "error": result.error, "first_failed": self.clock(), "next_at": self.clock() + 60.0}
                )  # fmt: skip
        return results

    # --- the public verbs ---------------------------------------------------------------
    @exclusive
    def fire(self, alert: Alert) -> Notification:
        """Raise ``alert``: deliver it to the owner on duty, unless it is already firing (then maybe escalate)."""
        try:
            duty = self.duty(alert)
        except MlgateError as exc:
            log.warning("alert %s has no route: %s", alert.key, exc)
            return Notification(alert.key, "unrouted", error=str(exc))
        state = self._load()
        current = state["firing"].get(alert.key)
        now = self.clock()
        if current is not None:
            note = Notification(alert.key, "deduplicated", duty.owner, duty.person, duty.period)
            due = duty.escalation and duty.escalate_after_seconds is not None
            if due and not current.get("escalated") and now - current["since"] >= (duty.escalate_after_seconds or 0):
                assert duty.escalation is not None
                message = self._message(alert, "escalated", duty, duty.escalation.person)
                note = Notification(alert.key, "escalated", duty.owner, duty.escalation.person, duty.period)
                note.deliveries = self._deliver(state, duty.escalation, message)
                current["escalated"] = True
                current["targets"] = sorted(set(current["targets"]) | {t.name for t in duty.escalation.targets})
            current["last_seen"] = now
            current["value"] = alert.value
            note.deliveries += self._resend(state, current, alert, duty)
            self._save(state)
            return note
        route = duty.route_for(alert.severity)
        message = self._message(alert, "firing", duty, route.person)
        note = Notification(alert.key, "sent", duty.owner, route.person, duty.period)
        note.deliveries = self._deliver(state, route, message)
        state["firing"][alert.key] = {
            "since": now, "last_seen": now, "escalated": False, "owner": duty.owner, "person": route.person,
            "targets": [t.name for t in route.targets], "alert": asdict(alert),
        }  # fmt: skip
        self._save(state)
        return note

    def _resend(
        self, state: dict[str, Any], current: dict[str, Any], alert: Alert, duty: OnDuty
    ) -> list[DeliveryResult]:
        """Alertmanager forgets an alert nobody re-sends: send a firing one again to each Alertmanager that heard it."""
        try:
            targets = [t for t in self._targets_by_name(current["targets"]) if t.kind == ALERTMANAGER]
        except MlgateError:
            return []
        if not targets:
            return []
        stored = Alert(**current["alert"])  # its labels (version, severity) stay those it fired with
        again = replace(stored, summary=alert.summary or stored.summary, value=alert.value,
                        details=alert.details or stored.details)  # fmt: skip
        message = self._message(again, "firing", duty, current["person"], since=current["since"])
        return self._deliver(state, Route(current["person"], tuple(targets)), message)

    @exclusive
    def resolve(self, model: str, signal: str) -> Notification:
        """Clear an alert: send a resolved message to every target that heard it fire."""
        key = f"{model}::{signal}"
        state = self._load()
        current = state["firing"].pop(key, None)
        if current is None:
            return Notification(key, "not-firing")
        alert = Alert(**current["alert"])
        try:
            duty = on_duty(self.settings, current["owner"], self._now())
            targets = self._targets_by_name(current["targets"])
        except MlgateError as exc:
            self._save(state)
            return Notification(key, "resolved", current["owner"], error=str(exc))
        route = Route(current["person"], tuple(targets))
        message = self._message(alert, "resolved", duty, current["person"], since=current["since"])
        message["summary"] = f"resolved: {alert.summary or alert.signal}"
        note = Notification(key, "resolved", duty.owner, current["person"], duty.period)
        note.deliveries = self._deliver(state, route, message)
        self._save(state)
        return note

    @exclusive
    def flush(self) -> list[DeliveryResult]:
        """Retry failed deliveries that are due; drop those older than a day (logged)."""
        state = self._load()
        now = self.clock()
        keep, results = [], []
        for item in state["outbox"]:
            if now - item["first_failed"] > OUTBOX_MAX_AGE_SECONDS:
                continue
            if item["next_at"] > now:
                keep.append(item)
                continue
            try:
                (target,) = self._targets_by_name([item["target"]])
            except (MlgateError, ValueError) as exc:
                results.append(DeliveryResult(item["target"], False, 0, None, str(exc)))
                keep.append(item)
                continue
            result = send(self.session, target, item["message"], 1, self.backoff, self.timeout, self.sleep, self.clock)
            results.append(result)
            if not result.ok:
                item["attempts"] += 1
                item["error"] = result.error
                item["next_at"] = now + min(3600.0, 60.0 * 2 ** min(item["attempts"], 6))
                keep.append(item)
        state["outbox"] = keep
        self._save(state)
        return results

    def _targets_by_name(self, names: list[str]) -> list[Target]:
        data, path = load_owners(self.settings)
        specs = data.get("targets") or {}
        missing = [n for n in names if n not in specs]
        if missing:
            raise ConfigError(f"{path}: target(s) {', '.join(missing)} no longer defined", "restore them")
        return [_target(n, specs[n], path) for n in names]
