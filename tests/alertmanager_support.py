"""Alert platform fixtures: a real Alertmanager on loopback routing to a recording webhook, an Events v2 validator.

alertmanager                 # module-scoped: Debian's prometheus-alertmanager, group_by [model], waits of 1 s
alertmanager.sink.wait_for(lambda n: n["status"] == "resolved")   # Alertmanager's webhook notifications
alertmanager.silence(model="fraud")                                 # POST /api/v2/silences
pagerduty                    # a receiver that checks each event against the Events API v2 schema, 202 like PD
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

ALERTMANAGER_BINARY = os.environ.get("MLGATE_ALERTMANAGER", "/usr/bin/prometheus-alertmanager")
INSTALL_HINT = "apt-get install prometheus-alertmanager (Debian/Ubuntu; CI's .ci/run does it)"
WAIT = 1  # seconds: group_wait and group_interval of the test route


def require_binary(path: str, hint: str) -> str:
    """``path`` when it exists; else skip the test saying how to install it (fail instead in CI)."""
    if Path(path).exists():
        return path
    message = f"{path} is not installed: {hint}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must not skip it)")
    pytest.skip(message)


@dataclass
class Sink:
    """A real HTTP server on loopback recording every JSON body POSTed to it."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.received)

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
        """The first body ``match`` accepts, waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in self.bodies():
                if match(body):
                    return body
            time.sleep(0.1)
        raise AssertionError(f"nothing matching arrived in {timeout} s; received: {self.bodies()}")


Answer = Callable[[str, bytes, dict[str, str]], tuple[int, dict[str, Any]]]


def _serve(answer: Answer) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            code, reply = answer(self.path, raw, dict(self.headers))
            data = json.dumps(reply).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@dataclass
class Alertmanager:
    """A running Alertmanager and the webhook its one route delivers to."""

    url: str
    sink: Sink

    def silence(self, minutes: float = 30, **labels: str) -> str:
        """Create a silence through Alertmanager's API v2 for alerts with these labels; its id."""
        now = datetime.now(UTC)
        body = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in labels.items()],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=minutes)).isoformat(),
            "createdBy": "tests", "comment": "maintenance window",
        }  # fmt: skip
        answer = requests.post(f"{self.url}/api/v2/silences", json=body, timeout=5)
        answer.raise_for_status()
        return str(answer.json()["silenceID"])

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """GET /api/v2/alerts (active, silenced and inhibited alike) filtered by label equality."""
        params = [("filter", f'{k}="{v}"') for k, v in labels.items()]
        answer = requests.get(f"{self.url}/api/v2/alerts", params=params, timeout=5)
        answer.raise_for_status()
        return list(answer.json())


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[Alertmanager]:
    binary = require_binary(ALERTMANAGER_BINARY, INSTALL_HINT)
    sink = Sink()

    def record(path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with sink.lock:
            sink.received.append(json.loads(raw))
        return 200, {}

    server, sink.url = _serve(record)
    with tempfile.TemporaryDirectory(prefix="mlgate-alertmanager-") as folder:
        config = {
            "route": {"receiver": "hook", "group_by": ["model"], "group_wait": f"{WAIT}s",
                      "group_interval": f"{WAIT}s", "repeat_interval": "1h"},
            "receivers": [{"name": "hook", "webhook_configs": [{"url": f"{sink.url}/hook", "send_resolved": True}]}],
        }  # fmt: skip
        (Path(folder) / "alertmanager.yml").write_text(yaml.safe_dump(config))
        log = open(Path(folder) / "alertmanager.log", "w+")  # noqa: SIM115 - read back while the process runs
        process = subprocess.Popen(
            [binary, f"--config.file={folder}/alertmanager.yml", f"--storage.path={folder}/data",
             "--web.listen-address=127.0.0.1:0", "--cluster.listen-address=", "--log.level=info"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = _listening(process, Path(folder) / "alertmanager.log")
            yield Alertmanager(url, sink)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
            server.shutdown()
            server.server_close()


def _listening(process: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> str:
    """The URL Alertmanager listens on (it was given port 0 and says which it got), once it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"alertmanager exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        found = re.search(r'msg="Listening on" address=(127\.0\.0\.1:\d+)', log.read_text())
        if found:
            url = f"http://{found.group(1)}"
            try:
                if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    return url
            except requests.RequestException:
                pass
        time.sleep(0.1)
    raise AssertionError(f"alertmanager did not become ready in {timeout} s:\n{log.read_text()[-2000:]}")


# --- PagerDuty Events API v2: a schema validator that answers like PagerDuty (202 accepted, 400 invalid) ---------
PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")
PD_TOP_KEYS = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client", "client_url"}
PD_PAYLOAD_KEYS = {"summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"}


def events_v2_errors(event: Any) -> list[str]:
    """Why ``event`` is not a valid Events API v2 alert event (empty when it is)."""
    if not isinstance(event, dict):
        return ["the event must be a JSON object"]
    errors = [f"unknown field {k!r}" for k in sorted(set(event) - PD_TOP_KEYS)]
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("routing_key must be the 32-character integration key")
    action = event.get("event_action")
    if action not in PD_ACTIONS:
        errors.append(f"event_action must be one of {', '.join(PD_ACTIONS)}")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not dedup or len(dedup) > 255):
        errors.append("dedup_key must be a string of 1 to 255 characters")
    if action in ("acknowledge", "resolve") and dedup is None:
        errors.append(f"dedup_key is required to {action}")
    if action == "trigger":
        errors += _payload_errors(event.get("payload"))
    for i, link in enumerate(event.get("links") or []):
        if not isinstance(link, dict) or not isinstance(link.get("href"), str) or set(link) - {"href", "text"}:
            errors.append(f"links[{i}] must be an object with a string href (and optional text)")
    for i, image in enumerate(event.get("images") or []):
        if not isinstance(image, dict) or not isinstance(image.get("src"), str):
            errors.append(f"images[{i}] must be an object with a string src")
    for name in ("client", "client_url"):
        if name in event and not isinstance(event[name], str):
            errors.append(f"{name} must be a string")
    return errors


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["payload is required to trigger"]
    errors = [f"unknown field payload.{k}" for k in sorted(set(payload) - PD_PAYLOAD_KEYS)]
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip() or len(summary) > 1024:
        errors.append("payload.summary must be a string of 1 to 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload["source"].strip():
        errors.append("payload.source is required")
    if payload.get("severity") not in PD_SEVERITIES:
        errors.append(f"payload.severity must be one of {', '.join(PD_SEVERITIES)}")
    if "timestamp" in payload:
        try:
            datetime.fromisoformat(str(payload["timestamp"]).replace("Z", "+00:00"))
        except ValueError:
            errors.append("payload.timestamp must be ISO 8601")
    for name in ("component", "group", "class"):
        if name in payload and not isinstance(payload[name], str):
            errors.append(f"payload.{name} must be a string")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        errors.append("payload.custom_details must be an object")
    return errors


@dataclass
class EventsReceiver:
    """The events the validator accepted, and the answers it gave."""

    url: str = ""
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[Any, list[str]]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def pagerduty() -> Iterator[EventsReceiver]:
    receiver = EventsReceiver()

    def answer(path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        receiver.paths.append(path)
        if path != "/v2/enqueue":
            return 404, {"status": "not found", "message": f"no endpoint {path}"}
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        errors = events_v2_errors(event)
        if "json" not in headers.get("Content-Type", ""):
            errors.append("Content-Type must be application/json")
        if errors:
            receiver.refused.append((event, errors))
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        receiver.accepted.append(event)
        return 202, {"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key")}

    server, receiver.url = _serve(answer)
    yield receiver
    server.shutdown()
    server.server_close()
