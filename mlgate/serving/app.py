"""The gateway's FastAPI app: MLflow scoring protocol, canary split, validation, metrics, record, admin."""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from mlgate.serving.batching import MicroBatcher, row_wise
from mlgate.serving.metrics import CONTENT_TYPE, GatewayMetrics
from mlgate.serving.models import LoadedModel, ModelHolder, ServingState
from mlgate.serving.protocol import RequestError, parse, to_jsonable
from mlgate.serving.record import PredictionStore, Served, default_store_url
from mlgate.serving.record_writer import RecordWriter
from mlgate.serving.router import CANARY, PRODUCTION, choose
from mlgate.serving.shadow import ShadowMirror

if TYPE_CHECKING:
    from mlgate.registry import Registry

log = logging.getLogger("mlgate.serving")

VERSION_HEADER = "X-Mlgate-Model-Version"
ROUTE_HEADER = "X-Mlgate-Route"
KEY_HEADER = "X-Mlgate-Request-Key"
REQUEST_ID_HEADER = "X-Mlgate-Request-Id"  # the id of the answer in the prediction record (`mlgate which`)
ADMIN_HEADER = "X-Mlgate-Admin-Token"
JSON = "application/json"


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

    def start(self) -> None:
        self.holder.start()

    def stop(self) -> None:
        self.holder.stop()
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
) -> Gateway:
    """Load the model(s) to serve now (ServingError if impossible) and set up metrics and the record."""
    settings = registry.settings
    metrics = GatewayMetrics(name)
    mirror: list[ShadowMirror] = []  # made once the holder exists; the holder reports each new state to it

    def changed(state: ServingState) -> None:
        metrics.set_serving(state.versions())
        for shadow in mirror:
            shadow.follow(state.shadow, state.shadow_share)

    holder = ModelHolder(
        registry,
        name,
        pinned=None if version is None else str(version),
        poll_seconds=poll_seconds or settings.poll_interval_seconds,
        on_change=changed,
        on_load=lambda result: metrics.reloads.labels(result).inc(),
    )
    metrics.set_serving(holder.state.versions())
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
    )


def create_app(registry: Registry, name: str, version: str | None = None, **options: Any) -> FastAPI:
    """The gateway app for one registered model (``version`` pins one version instead of following aliases)."""
    return app_for(build_gateway(registry, name, version, **options))


def app_for(gateway: Gateway) -> FastAPI:
    """Wire a built gateway into a FastAPI app; background threads start and stop with the app."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        gateway.start()
        try:
            yield
        finally:
            await run_in_threadpool(gateway.stop)

    app = FastAPI(
        title=f"mlgate gateway: {gateway.name}", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.gateway = gateway
    holder, metrics, recorder, name = gateway.holder, gateway.metrics, gateway.recorder, gateway.name
    batcher = gateway.batcher
    limit = gateway.max_body_bytes
    mirror = gateway.shadow

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        start = time.perf_counter()
        state = holder.state
        headers = request.headers
        key = headers.get(KEY_HEADER)
        route = choose(state.canary_weight if state.canary is not None else 0.0, key, headers.get(ROUTE_HEADER))
        model: LoadedModel = state.canary if route == CANARY and state.canary is not None else state.production
        if model is state.production:
            route = PRODUCTION
        frame = predictions = body = None
        reason = None
        try:
            body = await _read_body(request, limit)
            frame, params = parse(body, headers.get("content-type", ""), model.validator.names)
            frame = model.validator.check(frame)
            try:
                if batcher is not None and not params and row_wise(model.pyfunc):
                    predictions = await batcher.predict(model, model.predict, frame)
                else:
                    predictions = model.predict(frame, params)
            except Exception as exc:  # noqa: BLE001 - whatever the model raised becomes a JSON answer
                raise _model_failure(model, exc) from None
            status = 200
            payload = json.dumps({"predictions": to_jsonable(predictions)}).encode()
        except RequestError as err:
            status, frame = err.status, None
            reason = "model_error" if status >= 500 else ("too_large" if status == 413 else "bad_input")
            payload = json.dumps(err.body()).encode()
        elapsed = time.perf_counter() - start
        rows = 0 if frame is None else len(frame)
        metrics.observe(model.version, route, status, elapsed, rows, reason)
        request_id = uuid.uuid4().hex
        if recorder is not None:
            recorder.submit(
                Served(
                    time.time(),
                    name,
                    model.version,
                    route,
                    request_id,
                    key,
                    status,
                    elapsed * 1000,
                    frame,
                    predictions,
                )
            )
        answer_headers = {VERSION_HEADER: model.version, ROUTE_HEADER: route, REQUEST_ID_HEADER: request_id}
        after = None
        if mirror is not None and mirror.worker is not None and route == PRODUCTION and body is not None:
            # mirrored once the answer is sent: the caller never waits for the shadow
            content_type = request.headers.get("content-type", "")
            after = BackgroundTask(mirror.submit_after_answer, request_id, time.time(), key, body, content_type)
        return Response(payload, status, answer_headers, media_type=JSON, background=after)

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
        if recorder is not None:
            metrics.records_dropped.set(recorder.dropped)
        if mirror is not None:
            metrics.set_shadow(mirror.mirrored, mirror.dropped, mirror.written)
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

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the gateway")
        return _error(500, "INTERNAL_ERROR", f"the gateway failed: {type(exc).__name__}")

    return app


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise RequestError(400, "the Content-Length header is not a number")
        if int(length) > limit:
            raise _too_large(int(length), limit)
        return await request.body()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> RequestError:
    return RequestError(
        413,
        f"the body ({size} bytes or more) is over the limit of {limit} bytes: send fewer rows per request",
        error_code="REQUEST_TOO_LARGE",
    )


def _model_failure(model: LoadedModel, exc: Exception) -> RequestError:
    """The answer to a predict call that raised: 400 when MLflow's schema enforcement refused, else 500."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    if type(exc).__name__ == "MlflowException":  # MLflow's own schema enforcement refused the input
        return RequestError(400, f"the input does not match the model's schema: {first}")
    log.error("model v%s failed to predict", model.version, exc_info=exc)
    return RequestError(500, f"the model failed to predict: {type(exc).__name__}: {first}", error_code="MODEL_ERROR")


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
