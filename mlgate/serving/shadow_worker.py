"""The shadow's worker process: loads the shadow version, answers mirrored requests, records them as route shadow.

Started by ``mlgate.serving.shadow.MirrorWorker`` (``python -m mlgate.serving.shadow_worker``) with
the prediction store in the environment. It reads framed messages on stdin -- ``load`` (settings,
model, version), ``req`` (request id, time, key, body, content type), ``flush`` -- answers each
request as the gateway would (same parsing, validation and model call), timed here, and writes the
answers in batches (without the inputs: the production answer under the same request id has them).
It reports on stdout as JSON lines: rows written, batches failed, flushes done, and each load's
result (``loaded`` or ``load_failed`` with ``why``).

It stays out of the gateway's way: it runs at the lowest priority (nice 19, and Linux's SCHED_BATCH,
so its wake-ups never preempt the gateway; not SCHED_IDLE, which can starve it outright on a busy
machine) and wakes at most every ``GATHER_SECONDS`` for whatever arrived meanwhile; when it falls
behind, the gateway drops what it cannot hand over. Each request is predicted on its own and timed
without the time the worker waited for a CPU (Linux's schedstat), so its recorded latency is what
the shadow version takes to answer it (parse, validate, predict; the first request after a load is
answered once untimed, so no cold start counts).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from mlgate.exceptions import MlgateError
from mlgate.registry import Registry
from mlgate.serving.models import LoadedModel, load_version
from mlgate.serving.protocol import RequestError
from mlgate.serving.record import PredictionStore, Served
from mlgate.serving.record_writer import MAX_BATCH, MAX_DELAY_SECONDS, RETENTION_ENV, URL_ENV, _frames, _write
from mlgate.serving.router import SHADOW
from mlgate.serving.scoring import read_rows

log = logging.getLogger("mlgate.serving")

NICENESS = 19
GATHER_SECONDS = 0.05  # the worker wakes at most this often: one wake-up answers what arrived meanwhile


def run_delay_clock() -> Callable[[], float]:
    """Seconds the calling thread has waited for a CPU so far (Linux schedstat); always 0 where unknown."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        int(os.pread(fd, 128, 0).split()[1])
    except (OSError, ValueError, IndexError):
        return lambda: 0.0
    return lambda: int(os.pread(fd, 128, 0).split()[1]) / 1e9


def stay_out_of_the_way() -> None:
    """Run at the lowest priority, never preempting on wake-up: production requests come first."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    with contextlib.suppress(OSError):
        os.nice(NICENESS)


def answer(
    model: LoadedModel, name: str, request: tuple[Any, ...], waited: Callable[[], float] = lambda: 0.0
) -> Served:
    """The shadow's answer to one mirrored request, as the gateway would give it, with its own latency
    (``waited``: the process's time spent waiting for a CPU so far, left out of it)."""
    request_id, ts, key, body, content_type = request
    waited_before = waited()
    start = time.perf_counter()
    predictions = None
    rows = 0
    try:
        data, params, is_array = read_rows(model, body, content_type)
        predictions = model.predict_array(data) if is_array else model.predict(data, params)
        status, rows = 200, len(data)
    except RequestError as err:
        status = err.status
    except Exception as exc:  # noqa: BLE001 - whatever the model raised is its answer: recorded, never raised
        status = 400 if type(exc).__name__ == "MlflowException" else 500
        if status == 500 and not getattr(model, "_shadow_failure_logged", False):
            log.warning("shadow v%s failed to predict (logged once): %s: %s", model.version, type(exc).__name__, exc)
            model._shadow_failure_logged = True  # type: ignore[attr-defined]
    elapsed_ms = max(0.0, time.perf_counter() - start - (waited() - waited_before)) * 1000
    # its rows, not its inputs: the production answer's rows hold the same ones
    inputs: tuple[list[str], list[list[Any]]] | None = ([], [[]] * rows) if rows else None
    return Served(ts, name, model.version, SHADOW, request_id, key, status, elapsed_ms, inputs, predictions)


def warm_up(model: LoadedModel, request: tuple[Any, ...]) -> None:
    """Answer one request untimed and unrecorded, so the first recorded latency is not a cold start's."""
    with contextlib.suppress(Exception):
        answer(model, "", request)


def load(current: LoadedModel | None, message: tuple[Any, ...]) -> tuple[LoadedModel | None, dict[str, Any]]:
    """The model a ``load`` message names (the current one when it is that version), and the report to send."""
    settings, name, version = message
    if current is not None and current.version == str(version):
        return current, {"loaded": current.version}
    try:
        model = load_version(Registry.from_settings(settings), name, str(version))
    except Exception as exc:  # noqa: BLE001 - a version that does not load is reported, never fatal
        why = exc.message if isinstance(exc, MlgateError) else f"{type(exc).__name__}: {exc}"
        if current is not None:
            shutil.rmtree(current.folder, ignore_errors=True)
        return None, {"load_failed": str(version), "why": str(why)[:500]}
    if current is not None:
        shutil.rmtree(current.folder, ignore_errors=True)
    return model, {"loaded": model.version}


def _say(out: IO[str], report: dict[str, Any]) -> None:
    out.write(json.dumps({"written": 0, "failed": 0, "flushed": 0, **report}) + "\n")
    out.flush()


def main() -> int:
    """Read framed messages from stdin until it closes; answer, record and report."""
    stay_out_of_the_way()
    waited = run_delay_clock()
    store = PredictionStore(os.environ[URL_ENV], int(os.environ.get(RETENTION_ENV, "100000")))
    fd = sys.stdin.buffer.fileno()
    out = sys.stdout
    buffer = bytearray()
    model: LoadedModel | None = None
    name = ""
    cold = False  # the model has answered nothing since it was loaded
    batch: list[Served] = []
    begun = 0.0
    flushed = 0
    eof = False
    while not eof:
        wait = None if not batch else max(0.0, begun + MAX_DELAY_SECONDS - time.monotonic())
        readable, _, _ = select.select([fd], [], [], wait)
        if readable:
            time.sleep(GATHER_SECONDS)  # let more arrive: fewer wake-ups beside the gateway, bigger batches
            chunk = os.read(fd, 1 << 22)
            eof = not chunk
            buffer += chunk
        messages, used = _frames(buffer)
        del buffer[:used]
        for kind, body in messages:
            if kind in ("req", "reqs"):
                if model is None:
                    continue  # the version did not load: nothing to compare
                for request in body if kind == "reqs" else [body]:
                    if cold:
                        warm_up(model, request)
                        cold = False
                    batch.append(answer(model, name, request, waited))
            elif kind == "load":
                name = str(body[1])
                loaded, report = load(model, body)
                cold = cold or loaded is not model
                model = loaded
                _say(out, report)
            else:
                flushed = body
        if batch and not begun:
            begun = time.monotonic()
        due = len(batch) >= MAX_BATCH or eof or flushed or time.monotonic() - begun >= MAX_DELAY_SECONDS
        if batch and due:
            written, failed = _write(store, batch)
            batch, begun = [], 0.0
            _say(out, {"written": written, "failed": failed, "flushed": flushed})
            flushed = 0
        elif flushed:
            _say(out, {"flushed": flushed})
            flushed = 0
    if model is not None:
        shutil.rmtree(model.folder, ignore_errors=True)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
