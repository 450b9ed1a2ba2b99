"""The serving gateway: MLflow's scoring protocol over the registry's aliases, with canary split and hot reload."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.config import load_settings
from mlgate.exceptions import ServingError
from mlgate.extras import require_extra
from mlgate.heap import settle
from mlgate.registry import Registry

if TYPE_CHECKING:
    from mlgate.serving.app import Gateway

__all__ = ["RunningGateway", "running_gateway", "serve"]

WORKER_HEALTHCHECK_SECONDS = 60
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client when a worker imports it (serving/metrics.py)


class RunningGateway(str):
    """The base URL of a gateway started by ``running_gateway``; ``.gateway`` reaches its internals."""

    gateway: Gateway


@contextlib.contextmanager
def running_gateway(
    registry: Registry, name: str, port: int = 0, version: str | None = None, **options: Any
) -> Iterator[RunningGateway]:
    """Start the real gateway (uvicorn) on 127.0.0.1 in a background thread and yield its base URL.

    ``version`` pins one version instead of following the aliases; ``options`` go to
    ``build_gateway`` (poll_seconds, max_body_bytes, admin_token, store_url, retention_rows, record).
    """
    require_extra("serve", "serving a model")
    import uvicorn

    from mlgate.serving.app import app_for, build_gateway

    gateway = build_gateway(registry, name, version, **options)
    app = app_for(gateway)
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # Nagle's algorithm and delayed ACKs add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        gateway.stop()
        raise ServingError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", "pick another port") from None
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="mlgate-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(10)
        sock.close()
        raise ServingError("the gateway did not start within 30 s", "run `mlgate serve` to see its log")
    url = RunningGateway(f"http://127.0.0.1:{sock.getsockname()[1]}")
    url.gateway = gateway
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def serve(
    name: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    version: str | None = None,
    access_log: bool = False,
) -> None:
    """Run the gateway in the foreground until interrupted (the `mlgate serve` command)."""
    require_extra("serve", "mlgate serve")
    import uvicorn

    if workers > 1:
        # Each worker process builds its own gateway from the environment (settings, model, version).
        os.environ["MLGATE_SERVE_MODEL"] = name
        if version is not None:
            os.environ["MLGATE_SERVE_VERSION"] = str(version)
        with shared_metrics():
            uvicorn.run(
                "mlgate.serving:app_from_environment",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="info",
                access_log=access_log,
                # a worker loading its models on a busy machine can take longer than uvicorn's 5 s to
                # answer the supervisor's ping; it would be killed and restarted over and over
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            )
        return
    from mlgate.serving.app import create_app

    app = create_app(Registry.from_settings(load_settings()), name, version)
    settle()
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)


@contextlib.contextmanager
def shared_metrics() -> Iterator[str]:
    """Where the workers of one server keep their metrics (prometheus-client's multiprocess mode).

    PROMETHEUS_MULTIPROC_DIR when set (its ``*.db`` files are deleted first: a previous server's
    counts must not add to this one's), else a new temporary folder removed when the server stops.
    """
    given = os.environ.get(MULTIPROC_ENV)
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="mlgate-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    try:
        yield str(folder)
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)
            os.environ.pop(MULTIPROC_ENV, None)


def app_from_environment() -> Any:
    """App factory for multi-worker serving: model and version from MLGATE_SERVE_MODEL / _VERSION."""
    from mlgate.serving.app import create_app

    name = os.environ.get("MLGATE_SERVE_MODEL")
    if not name:
        raise ServingError("MLGATE_SERVE_MODEL is not set", "start the gateway with `mlgate serve NAME`")
    app = create_app(Registry.from_settings(load_settings()), name, os.environ.get("MLGATE_SERVE_VERSION") or None)
    settle()
    return app
