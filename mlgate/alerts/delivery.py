"""Delivery: Slack-compatible JSON, signed generic JSON, Alertmanager, PagerDuty; retries with backoff.

A generic ("json") target receives the alert as JSON with two headers::

    X-Mlgate-Timestamp: <unix seconds>
    X-Mlgate-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed by the target's secret>

A receiver checks it with ``verify_signature`` (constant-time, and rejects stale timestamps).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlgate.alerts.platforms import ALERTMANAGER, PAGERDUTY, alertmanager_body, pagerduty_body, post_url, unreachable
from mlgate.alerts.routing import Target

log = logging.getLogger("mlgate.alerts")

SIGNATURE_HEADER = "X-Mlgate-Signature"
TIMESTAMP_HEADER = "X-Mlgate-Timestamp"
_COLOURS = {"critical": "#d00000", "warning": "#e8a200", "info": "#2b7bb9", "resolved": "#2eb67d"}


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of sending one message to one target (after its retries)."""

    target: str
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sign(secret: str, body: bytes, timestamp: str) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str, body: bytes, timestamp: str, signature: str, now: float | None = None, tolerance: float = 300.0
) -> bool:
    """True when ``signature`` was made with ``secret`` over this body and timestamp, within ``tolerance`` s."""
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, body, timestamp), signature)


def slack_body(message: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook body (text fallback + blocks + a coloured attachment) for a message."""
    state = message["event"].split(".")[-1]
    colour = _COLOURS["resolved"] if state == "resolved" else _COLOURS.get(message["severity"], "#888888")
    icon = {"firing": ":rotating_light:", "escalated": ":sos:", "resolved": ":white_check_mark:"}.get(state, "")
    title = f"{icon} [{state.upper()}] {message['model']}: {message['signal']} ({message['severity']})"
    fields = [
        {"type": "mrkdwn", "text": f"*Owner*\n{message['owner']}"},
        {"type": "mrkdwn", "text": f"*On duty*\n{message['person']} ({message['period'].replace('_', ' ')})"},
    ]
    if message.get("value") is not None:
        fields.append({"type": "mrkdwn", "text": f"*Value*\n{message['value']} (threshold {message.get('threshold')})"})
    if message.get("version"):
        fields.append({"type": "mrkdwn", "text": f"*Version*\nv{message['version']}"})
    return {
        "text": f"{title}: {message['summary']}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{message['summary']}"}},
            {"type": "section", "fields": fields},
        ],
        "attachments": [{"color": colour, "fallback": message["summary"]}],
    }


def encode(target: Target, message: dict[str, Any], now: float) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers for ``message`` sent to ``target``."""
    payload: Any = message
    if target.kind == "slack":
        payload = slack_body(message)
    elif target.kind == ALERTMANAGER:
        payload = alertmanager_body(message, target.expires_seconds, target.runbook_url)
    elif target.kind == PAGERDUTY:
        payload = pagerduty_body(message, target.routing_key or "", target.runbook_url)
    body = json.dumps(payload, sort_keys=True, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "mlgate-alerts"}
    if target.kind == "json":
        stamp = str(int(now))
        headers[TIMESTAMP_HEADER] = stamp
        if target.secret:
            headers[SIGNATURE_HEADER] = sign(target.secret, body, stamp)
    return body, headers


def send(
    session: Any,
    target: Target,
    message: dict[str, Any],
    attempts: int = 3,
    backoff: float = 0.5,
    timeout: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> DeliveryResult:
    """POST ``message`` to ``target``; retry 5xx, 429 and network errors with exponential backoff.

    Never raises: a failure is logged and returned so the caller can keep it for later.
    """
    if target.problem:
        log.warning("alert not delivered to %s: %s", target.name, target.problem)
        return DeliveryResult(target.name, False, 0, None, target.problem)
    status: int | None = None
    error = ""
    for attempt in range(1, attempts + 1):
        body, headers = encode(target, message, clock())
        try:
            response = session.post(post_url(target.kind, target.url), data=body, headers=headers, timeout=timeout)
            status = int(response.status_code)
            if 200 <= status < 300:
                return DeliveryResult(target.name, True, attempt, status)
            error = f"HTTP {status}" + _refusal(target, response, status)
            if status < 500 and status != 429:
                break  # the receiver refused this message; retrying the same body will not help
        except Exception as exc:  # noqa: BLE001 - any network failure is a failed attempt, never a crash
            status = None
            if target.kind in (ALERTMANAGER, PAGERDUTY):
                error = unreachable(target.kind, target.name, post_url(target.kind, target.url), exc)
            else:
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
        if attempt < attempts:
            sleep(backoff * (2 ** (attempt - 1)))
    log.warning("alert delivery to %s failed after %d attempt(s): %s", target.name, attempt, error)
    return DeliveryResult(target.name, False, attempt, status, error)


def _refusal(target: Target, response: Any, status: int) -> str:
    """What Alertmanager or PagerDuty said when refusing a message (their bodies explain a 400)."""
    if target.kind not in (ALERTMANAGER, PAGERDUTY) or status >= 500:
        return ""
    try:
        text = " ".join(str(response.text).split())[:300]
    except Exception:  # noqa: BLE001 - the explanation is a courtesy
        return ""
    return f" from {post_url(target.kind, target.url)}: {text}" if text else ""
