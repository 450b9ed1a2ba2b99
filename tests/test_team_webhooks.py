"""Registry webhooks: alias moves made outside mlgate reach a verified receiver, the history and the owner."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
import uvicorn
import yaml
from backends import MlflowServer, free_port, server_settings
from click.testing import CliRunner

from mlgate import api
from mlgate.alerts import AlertRouter
from mlgate.cli import main
from mlgate.registry import Registry
from mlgate.team.webhooks import (
    RECEIVER_PATH,
    UNMANAGED_ACTION,
    process_delivery,
    receiver_app,
    sign,
    signature_problem,
)

SECRET = "s3cret-for-tests-only"


def test_signature_of_a_real_mlflow_delivery_is_verified_and_tampering_rejected() -> None:
    from mlflow.webhooks.delivery import _generate_hmac_signature

    body = json.dumps({"entity": "model_version_alias", "action": "created", "data": {"name": "m"}})
    now = time.time()
    headers = {
        "X-MLflow-Signature": _generate_hmac_signature(SECRET, "d-1", str(int(now)), body),
        "X-MLflow-Timestamp": str(int(now)),
        "X-MLflow-Delivery-Id": "d-1",
    }
    assert headers["X-MLflow-Signature"] == sign(SECRET, "d-1", str(int(now)), body.encode())
    assert signature_problem(SECRET, headers, body.encode(), now=now) is None
    assert "mismatch" in (signature_problem(SECRET, headers, body.encode() + b" ", now=now) or "")
    assert "mismatch" in (signature_problem("other", headers, body.encode(), now=now) or "")
    assert "stale" in (signature_problem(SECRET, headers, body.encode(), now=now + 3600) or "")
    assert "unsigned" in (signature_problem(SECRET, {}, body.encode(), now=now) or "")


class _Capture(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        _Capture.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def pager(tmp_path: Path) -> Iterator[str]:
    """An HTTP endpoint standing in for the owner's pager; what it receives is in _Capture.received."""
    _Capture.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.fixture
def receiver(team_server: MlflowServer, tmp_path: Path, pager: str) -> Iterator[tuple[Registry, str]]:
    """The standalone receiver on a free port, following the team server and alerting through owners.yaml."""
    team_server.ensure_up()
    settings = server_settings(team_server.url, tmp_path / "mlflow_config")
    assert settings.config_dir is not None
    route = {"person": "alice@example.com", "targets": ["pager"]}
    (settings.config_dir / "owners.yaml").write_text(
        yaml.safe_dump(
            {
                "targets": {"pager": {"kind": "json", "url": pager}},
                "owners": {"ml-platform@example.com": {"business_hours": route, "out_of_hours": route}},
            }
        )
    )
    registry = Registry.from_settings(settings)
    alerts = AlertRouter(settings, registry=registry, state_path=tmp_path / "alerts.json")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(receiver_app(registry, SECRET, alerts), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.05)
    else:
        raise AssertionError("the webhook receiver did not start")
    yield registry, url + RECEIVER_PATH
    server.should_exit = True
    thread.join(timeout=10)


def _unmanaged(registry: Registry, name: str) -> list[Any]:
    return [e for e in api.history(name, registry=registry) if e.action == UNMANAGED_ACTION]


def test_alias_moved_outside_mlgate_is_recorded_and_alerted_but_mlgate_moves_are_not(
    receiver: tuple[Registry, str],
    team_model_uri: str,
    card_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry, url = receiver
    name = f"hooked-{int(time.time() * 1000) % 10**8}"
    v1 = api.register(name, team_model_uri, card_path, registry=registry).version
    v2 = api.register(name, team_model_uri, card_path, registry=registry).version
    api.promote(name, v1, "production", force=True, reason="first release", registry=registry)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.settings.tracking_uri)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    hook = f"mlgate-test-{name}"
    made = CliRunner().invoke(main, ["webhook", "register", hook, "--url", url, "--secret-env", "HOOK_SECRET"])
    assert made.exit_code == 0, made.output
    assert "model_version_alias.created" in made.output
    try:
        time.sleep(1.5)  # the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL (1 s here)
        api.promote(name, v2, "production", force=True, reason="v2 release", registry=registry)  # managed
        registry.client.set_registered_model_alias(name, "production", v1)  # a raw client, outside mlgate

        deadline = time.monotonic() + 30
        while not _unmanaged(registry, name) and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(2)  # let the deliveries of mlgate's own moves arrive too
        unmanaged = _unmanaged(registry, name)
        assert len(unmanaged) == 1, [e.__dict__ for e in api.history(name, registry=registry)]
        event = unmanaged[0]
        assert (event.to_version, event.details["alias"]) == (v1, "production")
        assert "outside mlgate" in (event.reason or "")

        alerts = [m for m in _Capture.received if name in json.dumps(m)]
        assert len(alerts) == 1, _Capture.received
        assert "alice@example.com" in json.dumps(alerts[0]) and UNMANAGED_ACTION in json.dumps(alerts[0])

        forged = requests.post(url, data=b'{"entity": "model_version_alias"}', timeout=5)
        assert forged.status_code == 401 and "Traceback" not in forged.text

        # A redelivery of the same event is recorded once.
        delivery = event.details["delivery_id"]
        payload = {
            "entity": "model_version_alias",
            "action": "created",
            "timestamp": event.details["server_time"],
            "data": {"name": name, "alias": "production", "version": v1},
        }
        again = process_delivery(registry, payload, delivery)
        assert (again.managed, again.recorded) == (False, False)
        assert len(_unmanaged(registry, name)) == 1
    finally:
        assert CliRunner().invoke(main, ["webhook", "delete", hook]).exit_code == 0


def test_webhook_needs_a_server_and_a_secret(cli_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    args = ["webhook", "register", "w", "--url", "http://127.0.0.1:9/h", "--secret-env"]
    local = CliRunner().invoke(main, [*args, "HOOK_SECRET"])
    assert local.exit_code == 1 and "only for writes through an MLflow server" in local.output
    unset = CliRunner().invoke(main, [*args, "NOT_SET_ANYWHERE"])
    assert unset.exit_code == 1 and "NOT_SET_ANYWHERE is not set" in unset.output
