"""Bodies for the alerting platforms a team already runs: Alertmanager (API v2) and PagerDuty (Events API v2).

mlgate still decides who is told (the card's owner and owners.yaml); these targets hand the alert to the
platform, which adds its own grouping, silences, inhibition and escalation. Both are keyed by model and
signal, so a re-sent or resolved alert lands on the same Alertmanager alert / PagerDuty incident.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

ALERTMANAGER = "alertmanager"
PAGERDUTY = "pagerduty"
STATEFUL_KINDS = (ALERTMANAGER, PAGERDUTY)  # a newer message for an alert supersedes an older, unsent one
PAGERDUTY_URL = "https://events.pagerduty.com"
ALERTNAME = "MlgateAlert"
DEFAULT_EXPIRES_SECONDS = 4 * 3600.0  # an alert nobody re-sends resolves itself in Alertmanager after this
PD_SEVERITIES = {"info": "info", "warning": "warning", "critical": "critical", "error": "error"}
PD_SUMMARY_MAX = 1024
PD_DEDUP_MAX = 255


def post_url(kind: str, url: str) -> str:
    """Where a message to a target of ``kind`` at base ``url`` is POSTed."""
    base = url.rstrip("/")
    if kind == ALERTMANAGER:
        return base if base.endswith("/api/v2/alerts") else f"{base}/api/v2/alerts"
    if kind == PAGERDUTY:
        return base if base.endswith("/v2/enqueue") else f"{base}/v2/enqueue"
    return url


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _moment(message: dict[str, Any], key: str) -> datetime:
    try:
        return datetime.fromisoformat(str(message[key]))
    except (KeyError, ValueError):
        return datetime.now(UTC)


def runbook_of(message: dict[str, Any], runbook_url: str | None) -> str:
    """The runbook to follow: the target's runbook_url (with {model}, {signal}, {version}) or the mlgate command."""
    if runbook_url:
        values = {"model": message["model"], "signal": message["signal"], "version": message.get("version") or ""}
        for key, value in values.items():
            runbook_url = runbook_url.replace("{" + key + "}", str(value))
        return runbook_url
    return f"mlgate runbook {message['model']}  (rollback checklist; `mlgate rollback {message['model']}` to act)"


def description_of(message: dict[str, Any]) -> str:
    """One paragraph: the value against its threshold, who owns the model and who is on duty."""
    parts = [str(message["summary"])]
    if message.get("value") is not None:
        parts.append(f"value {message['value']:.4g} against threshold {message.get('threshold')}")
    parts.append(f"owner {message['owner']}; on duty {message['person']} ({str(message['period']).replace('_', ' ')})")
    return ". ".join(parts)


def alertmanager_body(
    message: dict[str, Any], expires_seconds: float | None = None, runbook_url: str | None = None
) -> list[dict[str, Any]]:
    """A one-alert list of postableAlert (POST /api/v2/alerts).

    Labels are the alert's identity (model, version, signal, severity, owner): Alertmanager groups and
    silences by them. Firing: ``endsAt`` is the message time plus ``expires`` (re-sent each monitoring pass,
    so it stays open while the condition holds and closes by itself if mlgate stops). Resolved: ``endsAt``
    is the message time, which Alertmanager takes as resolved.
    """
    state = str(message["event"]).split(".")[-1]
    sent = _moment(message, "sent_at")
    labels = {
        "alertname": ALERTNAME,
        "model": message["model"],
        "version": message.get("version") or "",
        "signal": message["signal"],
        "severity": message["severity"],
        "owner": message["owner"],
    }
    annotations = {
        "summary": str(message["summary"]),
        "description": description_of(message),
        "runbook": runbook_of(message, runbook_url),
        "person": str(message["person"]),
    }
    for link in message.get("links") or []:
        annotations.setdefault(f"{link['name']}_url", link["href"])
    ends = sent if state == "resolved" else sent + timedelta(seconds=expires_seconds or DEFAULT_EXPIRES_SECONDS)
    alert: dict[str, Any] = {
        "labels": {k: str(v) for k, v in labels.items() if v not in ("", None)},
        "annotations": annotations,
        "startsAt": _iso(_moment(message, "started_at") if message.get("started_at") else sent),
        "endsAt": _iso(ends),
    }
    web = [link["href"] for link in message.get("links") or [] if str(link["href"]).startswith(("http:", "https:"))]
    if web:
        alert["generatorURL"] = web[0]
    return [alert]


def dedup_key(model: str, signal: str) -> str:
    """The PagerDuty dedup_key of an alert: stable for a model and signal (hashed past 255 characters)."""
    key = f"mlgate/{model}/{signal}"
    return key if len(key) <= PD_DEDUP_MAX else "mlgate/" + hashlib.sha256(key.encode()).hexdigest()


def pagerduty_body(message: dict[str, Any], routing_key: str, runbook_url: str | None = None) -> dict[str, Any]:
    """An Events API v2 event: trigger (firing, escalated) or resolve, keyed by model and signal."""
    state = str(message["event"]).split(".")[-1]
    key = dedup_key(message["model"], message["signal"])
    if state == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}
    summary = str(message["summary"])
    if len(summary) > PD_SUMMARY_MAX:
        summary = summary[: PD_SUMMARY_MAX - 3] + "..."
    details = {
        "model": message["model"], "version": message.get("version"), "signal": message["signal"],
        "owner": message["owner"], "on_duty": message["person"], "period": message["period"],
        "value": message.get("value"), "threshold": message.get("threshold"),
        "runbook": runbook_of(message, runbook_url), "details": message.get("details") or {},
        "links": {link["name"]: link["href"] for link in message.get("links") or []}, "escalated": state == "escalated",
    }  # fmt: skip
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            "summary": summary,
            "source": f"mlgate/{message['model']}",
            "severity": PD_SEVERITIES.get(str(message["severity"]), "critical"),
            "timestamp": _iso(_moment(message, "sent_at")),
            "component": str(message["model"]),
            "group": str(message["owner"]),
            "class": str(message["signal"]),
            "custom_details": details,
        },
        "client": "mlgate",
    }
    links = [
        {"href": str(link["href"]), "text": link.get("text") or link["name"]}
        for link in message.get("links") or []
        if str(link["href"]).startswith(("http:", "https:"))
    ]
    if runbook_url:
        links.append({"href": runbook_of(message, runbook_url), "text": "runbook"})
    if links:
        body["links"] = links
    return body


def unreachable(kind: str, name: str, url: str, exc: BaseException) -> str:
    """One line naming the platform, its URL and what to check, for a request that got no answer."""
    what = {ALERTMANAGER: "Alertmanager", PAGERDUTY: "PagerDuty Events API"}.get(kind, "webhook")
    return (
        f"{what} at {url} did not answer ({type(exc).__name__}): check that it is running and reachable "
        f"from here, and the url of target {name!r} in owners.yaml"
    )
