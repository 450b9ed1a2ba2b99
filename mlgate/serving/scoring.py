"""One scoring request through the gateway: route, read, validate, predict, answer, count, record, mirror.

``Scorer.answer`` is the one implementation; two thin adapters call it: ``Scorer.asgi`` (a plain ASGI
callable, what ``POST /invocations`` reaches: the FastAPI stack around a request costs more than
the whole of this path) and the FastAPI route in ``serving/app.py`` (what the OpenAPI document
describes). Requests whose rows are plain finite numbers in the signature's order skip the DataFrame
(``Validator.array``); every other request takes the general path, which names each problem.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from mlgate.serving.protocol import RequestError, decode_json, parse, parse_payload, to_jsonable
from mlgate.serving.record import Served
from mlgate.serving.router import CANARY, PRODUCTION, choose

if TYPE_CHECKING:
    from mlgate.serving.app import Gateway
    from mlgate.serving.models import LoadedModel

log = logging.getLogger("mlgate.serving")

VERSION_HEADER = "X-Mlgate-Model-Version"
ROUTE_HEADER = "X-Mlgate-Route"
KEY_HEADER = "X-Mlgate-Request-Key"
REQUEST_ID_HEADER = "X-Mlgate-Request-Id"  # the id of the answer in the prediction record (`mlgate which`)
JSON = "application/json"

Answer = tuple[int, bytes, dict[str, str], Callable[[], None] | None]  # status, body, headers, after sending


class ClientGone(Exception):
    """The client disconnected before its request body arrived: there is no one to answer."""


def read_rows(model: LoadedModel, body: bytes, content_type: str) -> tuple[Any, dict[str, Any] | None, bool]:
    """The validated rows of a request body: (float64 array, None, True) on the fast path, else
    (DataFrame, params, False); RequestError when the request is refused."""
    if content_type.split(";", 1)[0].strip().lower() == JSON:
        payload = decode_json(body)
        values = model.validator.array(payload)
        if values is not None:
            return values, None, True
        frame, params = parse_payload(payload, model.validator.names)
    else:
        frame, params = parse(body, content_type, model.validator.names)
    return model.validator.check(frame), params, False


def model_failure(model: LoadedModel, exc: Exception) -> RequestError:
    """The answer to a predict call that raised: 400 when MLflow's schema enforcement refused, else 500."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    if type(exc).__name__ == "MlflowException":  # MLflow's own schema enforcement refused the input
        return RequestError(400, f"the input does not match the model's schema: {first}")
    log.error("model v%s failed to predict", model.version, exc_info=exc)
    return RequestError(500, f"the model failed to predict: {type(exc).__name__}: {first}", error_code="MODEL_ERROR")


def too_large(size: int, limit: int) -> RequestError:
    return RequestError(
        413,
        f"the body ({size} bytes or more) is over the limit of {limit} bytes: send fewer rows per request",
        error_code="REQUEST_TOO_LARGE",
    )


def checked_length(length: str | None, limit: int) -> None:
    """Refuse a Content-Length that is not a number or is over the limit, before reading the body."""
    if length is not None:
        if not length.isdigit():
            raise RequestError(400, "the Content-Length header is not a number")
        if int(length) > limit:
            raise too_large(int(length), limit)


class Scorer:
    """Answers scoring requests for one gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._ids = random.Random()  # seeded from the OS; a request id needs uniqueness, not secrecy

    async def answer(
        self, key: str | None, forced: str | None, content_type: str, read: Callable[[], Awaitable[bytes]]
    ) -> Answer:
        """Answer one request; ``read`` returns its body (RequestError when refused, ClientGone)."""
        gateway = self.gateway
        start = time.perf_counter()
        state = gateway.holder.state
        route = choose(state.canary_weight if state.canary is not None else 0.0, key, forced)
        model: LoadedModel = state.canary if route == CANARY and state.canary is not None else state.production
        if model is state.production:
            route = PRODUCTION
        inputs = predictions = body = None
        rows, reason = 0, None
        try:
            body = await read()
            data, params, is_array = read_rows(model, body, content_type)
            batcher = gateway.batcher
            try:
                if batcher is not None and not params and model.row_wise:
                    predict = model.predict_array if is_array else model.predict
                    predictions = await batcher.predict((model, is_array), predict, data)
                elif is_array:
                    predictions = model.predict_array(data)
                else:
                    predictions = model.predict(data, params)
            except Exception as exc:  # noqa: BLE001 - whatever the model raised becomes a JSON answer
                raise model_failure(model, exc) from None
            status = 200
            payload = json.dumps({"predictions": to_jsonable(predictions)}).encode()
            rows = len(data)
            inputs = (model.validator.names, data) if is_array else data
        except RequestError as err:
            status = err.status
            reason = "model_error" if status >= 500 else ("too_large" if status == 413 else "bad_input")
            payload = json.dumps(err.body()).encode()
        elapsed = time.perf_counter() - start
        gateway.metrics.observe(model.version, route, status, elapsed, rows, reason)
        request_id = f"{self._ids.getrandbits(128):032x}"
        now = time.time()
        if gateway.recorder is not None:
            gateway.recorder.submit(
                Served(now, gateway.name, model.version, route, request_id, key, status, elapsed * 1000, inputs,
                       predictions)
            )  # fmt: skip
        headers = {VERSION_HEADER: model.version, ROUTE_HEADER: route, REQUEST_ID_HEADER: request_id}
        mirror = gateway.shadow
        after = None
        if mirror is not None and mirror.worker is not None and route == PRODUCTION and body is not None:
            # mirrored once the answer is sent: the caller never waits for the shadow
            after = partial(mirror.submit, request_id, now, key, body, content_type)
        return status, payload, headers, after

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """``POST /invocations`` as a plain ASGI app (same answers as the FastAPI route, a fraction of the cost)."""
        key = forced = length = None
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = content_type or value.decode("latin-1")
            elif name == b"content-length":
                length = length if length is not None else value.decode("latin-1")
            elif name == b"x-mlgate-request-key":
                key = key if key is not None else value.decode("latin-1")
            elif name == b"x-mlgate-route":
                forced = forced if forced is not None else value.decode("latin-1")
        limit = self.gateway.max_body_bytes

        async def read() -> bytes:
            checked_length(length, limit)
            return await receive_body(receive, limit)

        try:
            status, payload, headers, after = await self.answer(key, forced, content_type, read)
        except ClientGone:
            return
        except Exception as exc:  # what FastAPI's handler of unexpected errors answers
            log.exception("unexpected error in the gateway")
            status, after, headers = 500, None, {}
            failed = {"error_code": "INTERNAL_ERROR", "message": f"the gateway failed: {type(exc).__name__}"}
            payload = json.dumps(failed).encode()
        raw = [(b"content-length", str(len(payload)).encode()), (b"content-type", b"application/json")]
        raw += [(name.lower().encode(), value.encode("latin-1")) for name, value in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})
        if after is not None:
            after()


async def receive_body(receive: Any, limit: int) -> bytes:
    """The request body from ASGI messages; 413 as soon as it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise too_large(size, limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
