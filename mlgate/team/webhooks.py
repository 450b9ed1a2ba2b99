"""Registry webhooks: register one on the MLflow server, verify its deliveries, record alias moves made outside mlgate.

MLflow signs a delivery as ``v1,<base64 HMAC-SHA256 of "<delivery id>.<timestamp>.<body>">`` in the
``X-MLflow-Signature`` header. An alias move is *managed* when an mlgate operation explains it (the
model's lock is held, or the operation running at that moment moved that alias there: see
mlgate.team.unmanaged); anything else is recorded in the history as an ``unmanaged-alias-change``
and alerted to the owner. A protected alias (``protected_aliases: {STAGE: revert}``) is also put
back where the history says: see mlgate.team.protect.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import ConfigError, MlgateError, ModelNotFound
from mlgate.extras import require_extra
from mlgate.registry import keys
from mlgate.registry import webhooks as stored_webhooks
from mlgate.team.protect import REVERT, protection, put_back
from mlgate.team.unmanaged import (
    CLOCK_SLACK_SECONDS,
    UNMANAGED_ACTION,
    alert_owner,
    explained_by,
    lock_explains,
    moved,
    recent_history,
    record_change,
    recorded_change,
)

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from mlgate.alerts import AlertRouter
    from mlgate.registry import Registry
    from mlgate.traffic import TrafficRouter

ALIAS_EVENTS = ("model_version_alias.created", "model_version_alias.deleted")
SIGNATURE_HEADER = "x-mlflow-signature"
TIMESTAMP_HEADER = "x-mlflow-timestamp"
DELIVERY_ID_HEADER = "x-mlflow-delivery-id"
SIGNATURE_TOLERANCE_SECONDS = 300.0
RECEIVER_PATH = "/webhooks/mlflow"


@dataclass(frozen=True)
class WebhookInfo:
    """A webhook registered on the MLflow server (its secret is never read back)."""

    id: str
    name: str
    url: str
    events: list[str]
    status: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _info(webhook: Any) -> WebhookInfo:
    events = [f"{e.entity.value}.{e.action.value}" for e in webhook.events]
    status = getattr(webhook.status, "value", str(webhook.status))
    return WebhookInfo(str(webhook.webhook_id), webhook.name, webhook.url, events, str(status))


def list_webhooks(registry: Registry) -> list[WebhookInfo]:
    """Every webhook on the server (needs an admin on a basic-auth server)."""
    return [_info(w) for w in stored_webhooks.list_webhooks(registry)]


def register_webhook(
    registry: Registry, name: str, url: str, secret: str, events: tuple[str, ...] = ALIAS_EVENTS
) -> WebhookInfo:
    """Create the webhook ``name`` (or update the one of that name) so alias moves reach ``url``, signed."""
    if not secret:
        raise ConfigError("a webhook needs a secret to sign its deliveries", "set the variable --secret-env names")
    if not registry.settings.tracking_uri.startswith(("http://", "https://")):
        raise ConfigError(
            "registry webhooks fire only for writes through an MLflow server, and the tracking URI is a local store",
            "run `make server` and point MLFLOW_TRACKING_URI at it",
        )
    existing = next((w for w in list_webhooks(registry) if w.name == name), None)
    description = "mlgate: records alias moves made outside mlgate"
    webhook = stored_webhooks.save_webhook(
        registry, name, url, list(events), secret, description, existing.id if existing is not None else None
    )
    return _info(webhook)


def delete_webhook(registry: Registry, name: str) -> bool:
    """Delete the webhook ``name``; False when there was none."""
    existing = next((w for w in list_webhooks(registry) if w.name == name), None)
    if existing is None:
        return False
    stored_webhooks.delete_webhook(registry, existing.id)
    return True


# --- verifying a delivery -----------------------------------------------------------------------
def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The signature MLflow sends for this delivery (``v1,<base64>``)."""
    content = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_problem(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
) -> str | None:
    """Why this delivery must be rejected, or None when its HMAC signature and timestamp check out."""
    lower = {k.lower(): v for k, v in headers.items()}
    signature, timestamp = lower.get(SIGNATURE_HEADER), lower.get(TIMESTAMP_HEADER)
    delivery_id = lower.get(DELIVERY_ID_HEADER)
    if not signature or not timestamp or not delivery_id:
        return "unsigned delivery: X-MLflow-Signature, X-MLflow-Timestamp and X-MLflow-Delivery-Id are required"
    try:
        sent = float(timestamp)
    except ValueError:
        return "malformed X-MLflow-Timestamp"
    now = time.time() if now is None else now
    if abs(now - sent) > tolerance:
        return f"X-MLflow-Timestamp is {now - sent:.0f}s away from now (more than {tolerance:.0f}s): replayed or stale"
    expected = sign(secret, delivery_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signature.split()):
        return "signature mismatch: wrong secret or altered body"
    return None


# --- classifying an alias move --------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryOutcome:
    """What the receiver concluded about one alias event."""

    delivery_id: str
    event: str
    model: str
    alias: str
    version: str | None
    managed: bool
    recorded: bool
    why: str
    alert: str | None = None
    restored: str | None = None  # a protected alias put back on this version ("none": removed)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def process_delivery(
    registry: Registry,
    payload: Mapping[str, Any],
    delivery_id: str,
    alerts: AlertRouter | None = None,
    slack: float = CLOCK_SLACK_SECONDS,
    router: TrafficRouter | None = None,
) -> DeliveryOutcome:
    """Handle one verified delivery: record (once) and alert an alias move no mlgate operation explains;
    put a protected alias (``protected_aliases: {STAGE: revert}``) back where the history says."""
    event = f"{payload.get('entity')}.{payload.get('action')}"
    data = payload.get("data") or {}
    name, alias = str(data.get("name", "")), str(data.get("alias", ""))
    version = str(data["version"]) if data.get("version") is not None else None

    def outcome(
        managed: bool, recorded: bool, why: str, alert: str | None = None, restored: str | None = None
    ) -> DeliveryOutcome:
        return DeliveryOutcome(delivery_id, event, name, alias, version, managed, recorded, why, alert, restored)

    if event not in ALIAS_EVENTS or not name:
        return outcome(True, False, f"not an alias event: {event}")
    if name.startswith(keys.LOCK_MODEL_PREFIX):
        return outcome(True, False, "mlgate's lock model")
    at = _epoch(payload.get("timestamp")) or time.time()
    if protection(registry, alias) == REVERT:
        done = put_back(registry, name, alias, version, at, payload, delivery_id, alerts, router, slack)
        return outcome(done.managed, done.recorded, done.why, done.alert, done.restored)
    locked = lock_explains(registry, name)
    if locked:
        return outcome(True, False, locked)
    history = recent_history(registry, name, at, slack)  # one bounded read: explains the move, or records it once
    explained = explained_by(history, alias, version, at, slack)
    if explained:
        return outcome(True, False, explained)
    if recorded_change(history, delivery_id) is not None:
        return outcome(False, False, "already recorded (redelivery)")
    record_change(registry, history, name, alias, version, payload, delivery_id)
    summary = f"{name}: {moved(alias, version)} outside mlgate; check `mlgate history {name}`"
    note = alert_owner(alerts, name, UNMANAGED_ACTION, summary, {"alias": alias, "delivery_id": delivery_id}, version)
    return outcome(False, True, "no mlgate operation explains it", alert=note)


# --- the receiver ---------------------------------------------------------------------------------
def receiver_router(registry: Registry, secret: str, alerts: AlertRouter | None = None) -> APIRouter:
    """A FastAPI router with ``POST /webhooks/mlflow``; a gateway can include it in its app."""
    from fastapi import APIRouter, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse

    router = APIRouter()

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        problem = signature_problem(secret, request.headers, body)
        if problem:
            return JSONResponse({"error": problem}, status_code=401)
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            return JSONResponse({"error": "the body is not a JSON object"}, status_code=400)
        delivery_id = request.headers.get(DELIVERY_ID_HEADER, "")
        try:
            outcome = await run_in_threadpool(process_delivery, registry, payload, delivery_id, alerts)
        except ModelNotFound as exc:  # deleted since: nothing to record, nothing to retry
            return JSONResponse({"ignored": exc.message})
        except MlgateError as exc:  # the registry down or busy, a move refused: 503 makes MLflow retry
            return JSONResponse({"error": exc.message}, status_code=503)
        return JSONResponse(outcome.to_dict())

    # This module uses postponed annotations; FastAPI needs the real Request class to inject it.
    receive.__annotations__ = {"request": Request, "return": JSONResponse}
    router.add_api_route(RECEIVER_PATH, receive, methods=["POST"])
    return router


def receiver_app(registry: Registry, secret: str, alerts: AlertRouter | None = None) -> FastAPI:
    """A standalone receiver app (``mlgate webhook listen``): the webhook route and ``GET /health``."""
    require_extra("team", "the webhook receiver", modules=("fastapi", "uvicorn"))
    from fastapi import FastAPI

    app = FastAPI(title="mlgate webhook receiver", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(receiver_router(registry, secret, alerts))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
