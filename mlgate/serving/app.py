"""The gateway's FastAPI app: MLflow scoring protocol, canary split, validation, metrics, record, admin."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from mlgate.serving.batching import MicroBatcher
from mlgate.serving.feedback import receive
from mlgate.serving.labels import LabelStore
from mlgate.serving.metrics import CONTENT_TYPE, GatewayMetrics
from mlgate.serving.models import ModelHolder, ServingState
from mlgate.serving.protocol import RequestError
from mlgate.serving.record import PredictionStore, default_store_url
from mlgate.serving.record_writer import RecordWriter
from mlgate.serving.router import CANARY, PRODUCTION
from mlgate.serving.scoring import (
    JSON,
    KEY_HEADER,
    REQUEST_ID_HEADER,
    ROUTE_HEADER,
    VERSION_HEADER,
    Scorer,
    checked_length,
    too_large,
)
from mlgate.serving.shadow import ShadowMirror

if TYPE_CHECKING:
    from mlgate.registry import Registry

log = logging.getLogger("mlgate.serving")

__all__ = ["ADMIN_HEADER", "KEY_HEADER", "REQUEST_ID_HEADER", "ROUTE_HEADER", "VERSION_HEADER", "Gateway"]

ADMIN_HEADER = "X-Mlgate-Admin-Token"


@dataclass
class Gateway:
    """Everything one gateway process holds: the model holder, metrics, the recorder, its limits."""

    name: str
    holder: ModelHolder
    metrics: GatewayMetrics
    recorder: RecordWriter | None
    max_body_bytes: int
    admin_token: str | None
    batcher: MicroBatcher | None = None  # None: every request is predicted on its own
    shadow: ShadowMirror | None = None  # mirrors production requests to the shadow alias's version (a rollout step)
    labels: LabelStore | None = None  # POST /feedback stores labels here (beside the prediction record)
    feedback_token: str | None = None

    def start(self) -> None:
        self.holder.start()

    def count(self) -> None:
        """Bring the gauges of the background workers' counts up to date (each scrape; each second with
        several workers, whose counts another worker's scrape cannot read)."""
        if self.recorder is not None:
            self.metrics.records_dropped.set(self.recorder.dropped)
        if self.shadow is not None:
            self.metrics.set_shadow(self.shadow.mirrored, self.shadow.dropped, self.shadow.written)

    def stop(self) -> None:
        self.metrics.close()
        self.holder.stop()
        if self.labels is not None:
            self.labels.close()
        if self.shadow is not None:
            self.shadow.close()
        if self.recorder is not None:
            self.recorder.close()


def build_gateway(
    registry: Registry,
    name: str,
    version: str | None = None,
    poll_seconds: float | None = None,
    max_body_bytes: int | None = None,
    admin_token: str | None = None,
    store_url: str | None = None,
    retention_rows: int | None = None,
    record: bool = True,
    batching: bool | None = None,
    feedback_token: str | None = None,
) -> Gateway:
    """Load the model(s) to serve now (ServingError if impossible) and set up metrics and the record."""
    settings = registry.settings
    metrics = GatewayMetrics(name)
    mirror: list[ShadowMirror] = []  # made once the holder exists; the holder reports each new state to it

    def changed(state: ServingState) -> None:
        metrics.set_serving(state.versions(), state.canary_weight)
        for shadow in mirror:
            shadow.follow(state.shadow, state.shadow_share)

    holder = ModelHolder(
        registry,
        name,
        pinned=None if version is None else str(version),
        poll_seconds=poll_seconds or settings.poll_interval_seconds,
        on_change=changed,
        on_load=metrics.reloaded,
    )
    metrics.set_serving(holder.state.versions(), holder.state.canary_weight)
    recorder = None
    if record:
        url = store_url or default_store_url(settings)
        PredictionStore(url).close()  # a wrong store URL stops the gateway here, not silently in the writer
        retention = retention_rows or settings.prediction_retention_rows
        recorder = RecordWriter(url, retention)
        if version is None:  # a pinned gateway serves one version and mirrors to none
            failed = lambda v, why: holder.mark_failed(v, why, "shadow")  # noqa: E731
            mirror.append(ShadowMirror(settings, name, url, retention, on_failed=failed))
            mirror[0].follow(holder.state.shadow, holder.state.shadow_share)
    return Gateway(
        name,
        holder,
        metrics,
        recorder,
        max_body_bytes or settings.max_body_bytes,
        admin_token if admin_token is not None else settings.admin_token,
        MicroBatcher() if (settings.serving_batching if batching is None else batching) else None,
        mirror[0] if mirror else None,
        LabelStore(url) if record else None,
        feedback_token if feedback_token is not None else settings.feedback_token,
    )


def create_app(registry: Registry, name: str, version: str | None = None, **options: Any) -> FastAPI:
    """The gateway app for one registered model (``version`` pins one version instead of following aliases)."""
    return app_for(build_gateway(registry, name, version, **options))


class GatewayApp(FastAPI):
    """The gateway's FastAPI app, with ``POST /invocations`` answered by the scorer's plain ASGI path first."""

    scorer: Scorer | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scorer = self.scorer
        if (
            scorer is not None
            and scope["type"] == "http"
            and scope["path"] == "/invocations"
            and scope["method"] == "POST"
        ):
            await scorer.asgi(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def app_for(gateway: Gateway) -> FastAPI:
    """Wire a built gateway into a FastAPI app; background threads start and stop with the app."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        gateway.start()
        counting = asyncio.create_task(_count_every_second(gateway)) if gateway.metrics.shared else None
        try:
            yield
        finally:
            if counting is not None:
                counting.cancel()
            await run_in_threadpool(gateway.stop)

    app = GatewayApp(
        title=f"mlgate gateway: {gateway.name}", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.gateway = gateway
    app.scorer = scorer = Scorer(gateway)
    holder, metrics, limit = gateway.holder, gateway.metrics, gateway.max_body_bytes

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        # what the OpenAPI document describes; GatewayApp answers this path with ``scorer.asgi`` first
        headers = request.headers
        read = lambda: _read_body(request, limit)  # noqa: E731
        content_type = headers.get("content-type", "")
        status, payload, answer_headers, after = await scorer.answer(
            headers.get(KEY_HEADER), headers.get(ROUTE_HEADER), content_type, read
        )
        return Response(payload, status, answer_headers, media_type=JSON, background=after and BackgroundTask(after))

    @app.get("/ping")
    async def ping() -> Response:
        return Response("\n", 200, {VERSION_HEADER: holder.state.production.version}, media_type=JSON)

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse(_health(gateway), headers={VERSION_HEADER: holder.state.production.version})

    @app.get("/version")
    async def version() -> JSONResponse:
        return JSONResponse(_version(gateway), headers={VERSION_HEADER: holder.state.production.version})

    @app.get("/metrics")
    async def prometheus() -> Response:
        gateway.count()
        return Response(metrics.render(), 200, media_type=CONTENT_TYPE)

    @app.post("/admin/reload")
    async def reload(request: Request) -> JSONResponse:
        if not gateway.admin_token:
            return _error(403, "FORBIDDEN", "the admin endpoint is disabled: set MLGATE_ADMIN_TOKEN to enable it")
        given = request.headers.get(ADMIN_HEADER) or request.headers.get("authorization", "").removeprefix("Bearer ")
        if not given or not hmac.compare_digest(given.encode(), gateway.admin_token.encode()):
            return _error(401, "UNAUTHENTICATED", f"a valid admin token is required in the {ADMIN_HEADER} header")
        state = await run_in_threadpool(holder.refresh, True)
        return JSONResponse({"reloaded": True, "serving": state.versions(), "canary_weight": state.canary_weight})

    @app.post("/feedback")
    async def feedback(request: Request) -> JSONResponse:
        if gateway.labels is None:
            return _error(404, "NOT_FOUND", "this gateway keeps no prediction record, so it takes no labels")
        try:
            body = await _read_body(request, limit)
        except RequestError as exc:
            return _error(exc.status, exc.error_code, exc.message)
        auth = request.headers.get("authorization")
        status, answer = await run_in_threadpool(receive, body, auth, gateway.feedback_token, gateway.labels)
        return JSONResponse(answer, status_code=status)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the gateway")
        return _error(500, "INTERNAL_ERROR", f"the gateway failed: {type(exc).__name__}")

    return app


async def _count_every_second(gateway: Gateway) -> None:
    while True:
        await asyncio.sleep(1.0)
        gateway.count()


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    checked_length(length, limit)
    if length is not None:
        return await request.body()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def _describe(state: ServingState) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for route, model in ((PRODUCTION, state.production), (CANARY, state.canary)):
        if model is not None:
            out[route] = {
                "version": model.version,
                "contract": model.contract,
                "validation": "gateway" if model.validator.fast else "mlflow",
            }
    return out


def _health(gateway: Gateway) -> dict[str, Any]:
    holder = gateway.holder
    state = holder.state
    recorder = gateway.recorder
    return {
        "status": "degraded"
        if holder.failed or holder.last_poll_error or (recorder is not None and not recorder.running)
        else "ok",
        "model": gateway.name,
        "serving": _describe(state),
        "canary_weight": state.canary_weight,
        "standby": None if holder.standby is None else holder.standby.version,
        "following": holder.pinned is None,
        "last_poll_age_seconds": None if holder.last_poll is None else round(time.time() - holder.last_poll, 3),
        "registry_error": holder.last_poll_error,
        "failed_versions": holder.failed,
        "shadow": None if gateway.shadow is None else gateway.shadow.describe(),
        "batching": None
        if gateway.batcher is None
        else {"batches": gateway.batcher.batches, "batched_requests": gateway.batcher.batched_requests},
        "records": None
        if recorder is None
        else {
            "writer": "running" if recorder.running else "restarting",
            "written_rows": recorder.written,
            "dropped": recorder.dropped,
            "write_failures": recorder.failures,
        },
    }


def _version(gateway: Gateway) -> dict[str, Any]:
    from importlib.metadata import version

    state = gateway.holder.state
    return {
        "mlgate": version("mlgate"),
        "mlflow": version("mlflow"),
        "model": gateway.name,
        "production": state.production.version,
        "canary": state.canary.version if state.canary else None,
        "canary_weight": state.canary_weight,
        "shadow": state.shadow,
        "pinned": gateway.holder.pinned,
    }
