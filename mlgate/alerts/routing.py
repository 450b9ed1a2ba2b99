"""Who decides right now: owner routes from mlflow_config/owners.yaml, by business hours and out of hours.

owners.yaml::

    timezone: Europe/Paris                  # default for every owner
    hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00"}   # what business hours are
    targets:                                # named webhook destinations
      ml-slack:  {kind: slack, url_env: MLGATE_SLACK_WEBHOOK}      # or url: https://...
      pager:     {kind: json,  url: https://pager.example/hook, secret_env: MLGATE_WEBHOOK_SECRET}
      am:        {kind: alertmanager, url: http://alertmanager:9093, expires: 4h}         # API v2
      pd:        {kind: pagerduty, routing_key_env: MLGATE_PAGERDUTY_KEY}                 # Events API v2
      # optional on every target: runbook_url: https://wiki.example/runbooks/{model}
    owners:
      ml-platform@example.com:              # the model card's owner (tag mlgate.owner)
        business_hours: {person: alice@example.com, targets: [ml-slack]}
        out_of_hours:   {person: ml-oncall, targets: [pager], min_severity: critical}
        escalation:     {after: 30m, person: head-of-ml@example.com, targets: [pager]}
        # timezone and hours may be overridden per owner

An alert below ``min_severity`` out of hours goes to the business-hours targets instead
(read next morning), so nobody is paged at night for a warning.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mlgate.alerts.platforms import PAGERDUTY, PAGERDUTY_URL
from mlgate.config import Settings
from mlgate.config.durations import parse_duration
from mlgate.config.files import check_keys, mapping, read_yaml
from mlgate.exceptions import ConfigError

OWNERS_FILE = "owners.yaml"
SEVERITIES = ("info", "warning", "critical")
TARGET_KINDS = ("slack", "json", "alertmanager", "pagerduty")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BUSINESS_HOURS = "business_hours"
OUT_OF_HOURS = "out_of_hours"
FILE_KEYS = ("timezone", "hours", "targets", "owners")
HOURS_KEYS = ("days", "start", "end")
TARGET_KEYS = ("kind", "url", "url_env", "secret", "secret_env", "routing_key_env", "expires", "runbook_url")
OWNER_KEYS = (BUSINESS_HOURS, OUT_OF_HOURS, "escalation", "timezone", "hours")
ROUTE_KEYS = ("person", "targets", "min_severity")
PERIOD_KEYS = {BUSINESS_HOURS: ROUTE_KEYS, OUT_OF_HOURS: ROUTE_KEYS, "escalation": (*ROUTE_KEYS, "after")}


@dataclass(frozen=True)
class Target:
    """One destination: Slack-compatible JSON, generic JSON signed with HMAC-SHA256, Alertmanager or PagerDuty."""

    name: str
    kind: str
    url: str
    secret: str | None = field(default=None, repr=False)
    problem: str | None = None  # why it cannot deliver (e.g. its url_env is not set), checked at send time
    routing_key: str | None = field(default=None, repr=False)  # pagerduty: from the variable routing_key_env names
    expires_seconds: float | None = None  # alertmanager: endsAt of a firing alert, from its last sending
    runbook_url: str | None = None  # {model}, {signal} and {version} are filled in

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "url": _redact_url(self.url),
            "signed": self.secret is not None,
            "problem": self.problem,
        }


def _redact_url(url: str) -> str:
    """Slack webhook URLs are secrets: show the host and the first path segment only."""
    match = re.match(r"^(\w+://[^/]+)(/[^/]*)?", url)
    if not match:
        return url
    return match.group(1) + (match.group(2) or "") + ("/..." if len(url) > len(match.group(0)) else "")


@dataclass(frozen=True)
class Route:
    """A person and where to reach them."""

    person: str
    targets: tuple[Target, ...]
    min_severity: str = "info"

    def to_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "targets": [t.to_dict() for t in self.targets],
            "min_severity": self.min_severity,
        }


@dataclass(frozen=True)
class OnDuty:
    """Who decides for ``owner`` at ``at``: the route in force now, and the escalation after a delay."""

    owner: str
    at: datetime
    period: str  # business_hours | out_of_hours
    route: Route
    business_hours_route: Route
    escalation: Route | None = None
    escalate_after_seconds: float | None = None
    timezone: str = "UTC"
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def person(self) -> str:
        return self.route.person

    @property
    def targets(self) -> tuple[Target, ...]:
        return self.route.targets

    @property
    def business_hours(self) -> bool:
        return self.period == BUSINESS_HOURS

    def route_for(self, severity: str) -> Route:
        """The route an alert of ``severity`` takes now (below the out-of-hours bar: business hours)."""
        if severity_rank(severity) < severity_rank(self.route.min_severity):
            return self.business_hours_route
        return self.route

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "at": self.at.isoformat(),
            "period": self.period,
            "person": self.person,
            "route": self.route.to_dict(),
            "escalation": self.escalation.to_dict() if self.escalation else None,
            "escalate_after_seconds": self.escalate_after_seconds,
            "timezone": self.timezone,
            "source": self.source,
        }

    def problems(self) -> list[str]:
        """Why some target of this owner cannot deliver now (empty when every target is ready)."""
        routes = [self.route, self.business_hours_route] + ([self.escalation] if self.escalation else [])
        seen = {t.name: t.problem for r in routes for t in r.targets if t.problem}
        return sorted(set(seen.values()))

    def summary(self) -> str:
        period = "business hours" if self.business_hours else "out of hours"
        text = f"{self.person} ({period}, {self.timezone}) for owner {self.owner}"
        if self.escalation:
            text += f"; escalates to {self.escalation.person} after {int(self.escalate_after_seconds or 0)} s"
        return text


def severity_rank(severity: str) -> int:
    """0 info, 1 warning, 2 critical; unknown severities rank as critical (never silenced)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1


def owners_path(settings: Settings) -> Path:
    """The owners.yaml in use (ConfigError when there is none)."""
    path = settings.config_file(OWNERS_FILE)
    if path is None:
        where = settings.config_dir or "mlflow_config/"
        raise ConfigError(
            f"no {OWNERS_FILE} in {where}: alerts have nowhere to go",
            f"create {OWNERS_FILE} with a route for each model owner (see README: Monitoring and alerts)",
        )
    return path


def load_owners(settings: Settings) -> tuple[dict[str, Any], Path]:
    """The parsed owners.yaml and its path; an unknown key anywhere in it is an error naming file and key."""
    path = owners_path(settings)
    data = read_yaml(path)
    check_keys(data, FILE_KEYS, str(path))
    check_keys(mapping(data.get("hours"), f"{path}: hours"), HOURS_KEYS, f"{path}: hours")
    for name, spec in mapping(data.get("targets"), f"{path}: targets").items():
        if isinstance(spec, dict):  # anything else is refused with its own message when the target is used
            check_keys(spec, TARGET_KEYS, f"{path}: targets.{name}")
    for owner, spec in mapping(data.get("owners"), f"{path}: owners").items():
        where = f"{path}: owners.{owner}"
        spec = mapping(spec, where)
        check_keys(spec, OWNER_KEYS, where)
        check_keys(mapping(spec.get("hours"), f"{where}.hours"), HOURS_KEYS, f"{where}.hours")
        for period, known in PERIOD_KEYS.items():
            if isinstance(spec.get(period), dict):  # anything else is refused with its own message when used
                check_keys(spec[period], known, f"{where}.{period}")
    return data, path


def _target(name: str, spec: Any, path: Path) -> Target:
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: target {name!r} must be a mapping with kind and url", "fix the targets section")
    kind = spec.get("kind", "json")
    if kind not in TARGET_KINDS:
        raise ConfigError(f"{path}: target {name!r} has kind {kind!r}", f"use one of {', '.join(TARGET_KINDS)}")
    if kind == PAGERDUTY and not spec.get("url") and not spec.get("url_env"):
        spec = {**spec, "url": PAGERDUTY_URL}
    if not spec.get("url") and not spec.get("url_env"):
        raise ConfigError(f"{path}: target {name!r} has no url", "give it a url (or url_env naming a variable)")
    url = spec.get("url") or os.environ.get(str(spec["url_env"])) or ""
    problem = None if url else f"target {name!r}: environment variable {spec.get('url_env')} is not set"
    secret = spec.get("secret") or (os.environ.get(str(spec["secret_env"])) if spec.get("secret_env") else None)
    if spec.get("secret_env") and not secret:
        problem = f"target {name!r}: environment variable {spec['secret_env']} (its signing secret) is not set"
    routing_key = None
    if kind == PAGERDUTY:
        if not spec.get("routing_key_env"):
            raise ConfigError(
                f"{path}: pagerduty target {name!r} has no routing_key_env",
                "name the environment variable that holds the integration key (routing_key_env: MLGATE_PAGERDUTY_KEY)",
            )
        routing_key = os.environ.get(str(spec["routing_key_env"])) or None
        if not routing_key:
            problem = f"target {name!r}: environment variable {spec['routing_key_env']} (its routing key) is not set"
    expires = parse_duration(spec["expires"], f"{path}: targets.{name}.expires") if spec.get("expires") else None
    runbook = str(spec["runbook_url"]) if spec.get("runbook_url") else None
    return Target(name, kind, str(url), secret, problem, routing_key, expires, runbook)


def _route(spec: Any, where: str, targets: dict[str, Any], path: Path) -> Route:
    if not isinstance(spec, dict) or not spec.get("person"):
        raise ConfigError(f"{path}: {where} needs a person and targets", "fix the owners section")
    names = spec.get("targets") or []
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in targets]
    if unknown or not names:
        raise ConfigError(
            f"{path}: {where} names unknown target(s) {', '.join(unknown) or '(none given)'}",
            f"targets defined: {', '.join(sorted(targets)) or 'none'}",
        )
    severity = str(spec.get("min_severity", "info"))
    if severity not in SEVERITIES:
        raise ConfigError(f"{path}: {where}.min_severity {severity!r}", f"use one of {', '.join(SEVERITIES)}")
    return Route(str(spec["person"]), tuple(_target(n, targets[n], path) for n in names), severity)


def _in_business_hours(local: datetime, hours: Any, path: Path) -> bool:
    hours = hours or {}
    days = [str(d).lower()[:3] for d in hours.get("days", _DAYS[:5])]
    if set(days) - set(_DAYS):
        raise ConfigError(f"{path}: hours.days {days}", "use mon, tue, wed, thu, fri, sat, sun")
    try:
        start = time.fromisoformat(str(hours.get("start", "09:00")))
        end = time.fromisoformat(str(hours.get("end", "18:00")))
    except ValueError:
        raise ConfigError(f"{path}: hours start/end must be HH:MM", "fix the times") from None
    return _DAYS[local.weekday()] in days and start <= local.time().replace(tzinfo=None) < end


def on_duty(settings: Settings, owner: str, now: datetime | None = None) -> OnDuty:
    """Who decides for ``owner`` right now, read from owners.yaml (ConfigError if the owner has no route)."""
    data, path = load_owners(settings)
    owners = data.get("owners") or {}
    spec = owners.get(owner)
    if not isinstance(spec, dict):
        raise ConfigError(
            f"owner {owner!r} has no route in {path}",
            f"add an entry for {owner!r} under owners: (owners with routes: {', '.join(sorted(owners)) or 'none'})",
        )
    targets = data.get("targets") or {}
    tz_name = str(spec.get("timezone") or data.get("timezone") or "UTC")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{path}: unknown timezone {tz_name!r}", "use an IANA name such as Europe/Paris") from None
    at = now or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    business = _route(spec.get(BUSINESS_HOURS), f"owners.{owner}.{BUSINESS_HOURS}", targets, path)
    night_spec = spec.get(OUT_OF_HOURS)
    night = _route(night_spec, f"owners.{owner}.{OUT_OF_HOURS}", targets, path) if night_spec else business
    inside = _in_business_hours(at.astimezone(tz), spec.get("hours") or data.get("hours"), path)
    escalation = None
    after = None
    if spec.get("escalation"):
        escalation = _route(spec["escalation"], f"owners.{owner}.escalation", targets, path)
        after = parse_duration(spec["escalation"].get("after", "30m"), f"{path}: owners.{owner}.escalation.after")
    return OnDuty(
        owner=owner,
        at=at,
        period=BUSINESS_HOURS if inside else OUT_OF_HOURS,
        route=business if inside else night,
        business_hours_route=business,
        escalation=escalation,
        escalate_after_seconds=after,
        timezone=tz_name,
        source=str(path),
    )
