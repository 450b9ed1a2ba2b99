"""Registry webhooks: alias moves made outside mlgate reach a verified receiver, the history and the owner."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
import uvicorn
import yaml
from backends import MlflowServer, free_port, server_settings
from click.testing import CliRunner
from rollout_support import pass_gate
from serving_helpers import rows, split_body

from mlgate import api
from mlgate.alerts import AlertRouter
from mlgate.cli import main
from mlgate.config import Settings, load_settings
from mlgate.config.settings import ProtectedAliases
from mlgate.exceptions import ConfigError
from mlgate.registry import Event, Registry, keys
from mlgate.serving import running_gateway
from mlgate.team.unmanaged import REVERTED_ACTION
from mlgate.team.webhooks import (
    RECEIVER_PATH,
    UNMANAGED_ACTION,
    process_delivery,
    receiver_app,
    sign,
    signature_problem,
)

SECRET = "s3cret-for-tests-only"
RELOAD_ALLOWANCE = 2.5  # seconds for a gateway to load a tiny model through the server's artifact proxy


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
    yield from _receiver(server_settings(team_server.url, tmp_path / "mlflow_config"), tmp_path, pager)


@pytest.fixture
def protecting(team_server: MlflowServer, tmp_path: Path, pager: str) -> Iterator[tuple[Registry, str]]:
    """The receiver with ``protected_aliases: {production: revert, canary: revert, last-known-good: alert}``."""
    team_server.ensure_up()
    protected = ProtectedAliases(production="revert", canary="revert", last_known_good="alert")
    settings = server_settings(team_server.url, tmp_path / "mlflow_config", protected_aliases=protected)
    yield from _receiver(settings, tmp_path, pager)


def _receiver(settings: Settings, tmp_path: Path, pager: str) -> Iterator[tuple[Registry, str]]:
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


def _events(registry: Registry, name: str, action: str) -> list[Any]:
    return [e for e in api.history(name, registry=registry) if e.action == action]


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
        while not _events(registry, name, UNMANAGED_ACTION) and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(2)  # let the deliveries of mlgate's own moves arrive too
        unmanaged = _events(registry, name, UNMANAGED_ACTION)
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
        assert len(_events(registry, name, UNMANAGED_ACTION)) == 1
    finally:
        assert CliRunner().invoke(main, ["webhook", "delete", hook]).exit_code == 0


def test_webhook_needs_a_server_and_a_secret(cli_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    args = ["webhook", "register", "w", "--url", "http://127.0.0.1:9/h", "--secret-env"]
    local = CliRunner().invoke(main, [*args, "HOOK_SECRET"])
    assert local.exit_code == 1 and "only for writes through an MLflow server" in local.output
    unset = CliRunner().invoke(main, [*args, "NOT_SET_ANYWHERE"])
    assert unset.exit_code == 1 and "NOT_SET_ANYWHERE is not set" in unset.output


@contextlib.contextmanager
def _hooked(registry: Registry, url: str, name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A webhook for ``name``'s alias events to the receiver at ``url`` (deleted afterwards)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.settings.tracking_uri)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    hook = f"mlgate-test-{name}"
    made = CliRunner().invoke(main, ["webhook", "register", hook, "--url", url, "--secret-env", "HOOK_SECRET"])
    assert made.exit_code == 0, made.output
    time.sleep(1.5)  # the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL (1 s here)
    try:
        yield
    finally:
        assert CliRunner().invoke(main, ["webhook", "delete", hook]).exit_code == 0


def _until(check: Any, seconds: float = 30.0) -> float:
    """Poll ``check`` every 50 ms until it is true; the time it became true."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return time.time()


def _served_by(base: str) -> str:
    answer = requests.post(f"{base}/invocations", json=split_body(rows(1)), timeout=10)
    return str(answer.headers["X-Mlgate-Model-Version"])


def test_a_protected_production_moved_outside_mlgate_is_put_back_and_a_gateway_serves_it_one_poll_at_most(
    protecting: tuple[Registry, str],
    team_model_uri: str,
    card_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry, url = protecting
    name = f"guarded-{int(time.time() * 1000) % 10**8}"
    v1 = api.register(name, team_model_uri, card_path, registry=registry).version
    v2 = api.register(name, team_model_uri, card_path, registry=registry).version
    api.promote(name, v1, "production", force=True, reason="first release", registry=registry)
    poll = 0.5
    answers: list[tuple[float, str]] = []
    stop = threading.Event()

    def client(base: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                answer = session.post(f"{base}/invocations", json=split_body(rows(1)), timeout=10)
                assert answer.status_code == 200
                answers.append((time.time(), answer.headers["X-Mlgate-Model-Version"]))

    with _hooked(registry, url, name, monkeypatch):
        api.promote(name, v2, "production", force=True, reason="v2 release", registry=registry)  # mlgate's own
        with running_gateway(registry, name, poll_seconds=poll, record=False) as base:
            _until(lambda: _served_by(base) == v2)
            thread = threading.Thread(target=client, args=(base,), daemon=True)
            thread.start()
            moved = time.time()
            registry.client.set_registered_model_alias(name, "production", v1)  # a raw client, outside mlgate
            _until(lambda: bool(_events(registry, name, REVERTED_ACTION)))
            back = _until(lambda: registry.aliases(name)["production"] == v2)
            time.sleep(poll + 1.0)
            stop.set()
            thread.join(10)

    assert back - moved < 10, f"put back after {back - moved:.1f} s"
    served_v1 = [at for at, version in answers if version == v1]
    assert answers and answers[-1][1] == v2
    if served_v1:  # the gateway may not have polled during the few hundred ms v1 held production
        # One poll after the put-back, plus loading v2 again: a gateway keeps the displaced version only as long
        # as it is the last known good, so the unmanaged switch to v1 dropped v2 from memory.
        assert max(served_v1) <= back + poll + RELOAD_ALLOWANCE, (max(served_v1) - back, poll)
    change, reverted = _events(registry, name, UNMANAGED_ACTION), _events(registry, name, REVERTED_ACTION)
    assert len(change) == 1 and (change[0].to_version, change[0].details["alias"]) == (v1, "production")
    assert len(reverted) == 1, [e.__dict__ for e in api.history(name, registry=registry)]
    event = reverted[0]
    assert (event.from_version, event.to_version, event.result) == (v1, v2, "completed")
    assert "set to v1 outside mlgate" in (event.reason or "") and "put back to v2" in (event.reason or "")
    assert registry.version(name, v2).tags.get(keys.STATUS) == "production"
    pages = [m for m in _Capture.received if name in json.dumps(m) and REVERTED_ACTION in json.dumps(m)]
    assert pages and "put back to v2" in pages[0]["summary"] and pages[0]["person"] == "alice@example.com"
    # The timeline knows v1 held production from the raw move until it was put back.
    raw_at = datetime.fromisoformat(change[0].details["server_time"]).timestamp()
    during = api.status(name, registry=registry, at=(raw_at + datetime.fromisoformat(event.at).timestamp()) / 2)
    assert during.aliases["production"] == v1
    assert during.at is not None and during.at.set_by["production"].action == UNMANAGED_ACTION
    assert api.status(name, registry=registry, at="now").aliases["production"] == v2


def test_a_protected_canary_is_put_back_with_its_weight_and_mlgate_own_moves_are_left_alone(
    protecting: tuple[Registry, str],
    team_model_uri: str,
    card_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry, url = protecting
    name = f"guarded-canary-{int(time.time() * 1000) % 10**8}"
    v1 = api.register(name, team_model_uri, card_path, registry=registry).version
    v2 = api.register(name, team_model_uri, card_path, registry=registry).version
    pass_gate(registry, name, v2, "canary")
    api.promote(name, v1, "production", force=True, reason="first release", registry=registry)

    with _hooked(registry, url, name, monkeypatch):
        api.rollout_start(name, v2, steps="25,100", registry=registry)  # mlgate's own move
        registry.client.delete_registered_model_alias(name, "canary")  # outside mlgate
        _until(lambda: registry.aliases(name).get("canary") == v2 and bool(_events(registry, name, REVERTED_ACTION)))
        assert registry.model_tags(name)[keys.CANARY_WEIGHT] == "25"

        registry.client.set_registered_model_alias(name, "last-known-good", v2)  # alert only, as configured

        def lkg_moves() -> list[tuple[str | None, str]]:
            found = _events(registry, name, UNMANAGED_ACTION)
            return [(e.to_version, e.details["alias"]) for e in found if e.details["alias"] != "canary"]

        _until(lambda: lkg_moves() == [(v2, "last-known-good")])

        api.rollout_abort(name, reason="enough", registry=registry)  # mlgate clears the canary: not put back
        time.sleep(3)
        assert "canary" not in registry.aliases(name)
        assert registry.aliases(name)["last-known-good"] == v2  # alert mode leaves it
    reverted = _events(registry, name, REVERTED_ACTION)
    assert len(reverted) == 1 and reverted[0].details["alias"] == "canary" and reverted[0].to_version == v2


def _alias_payload(name: str, alias: str, version: str | None) -> dict[str, Any]:
    """What MLflow delivers for an alias set (or deleted, version None) now."""
    action = "created" if version is not None else "deleted"
    data = {"name": name, "alias": alias, **({"version": version} if version is not None else {})}
    stamp = datetime.now().astimezone().isoformat()
    return {"entity": "model_version_alias", "action": action, "timestamp": stamp, "data": data}


@pytest.fixture
def guarded(registry: Registry, model_uri: str, card_path: Path) -> tuple[Registry, str, str]:
    """On a sqlite registry (deliveries handed in directly): v1 then v2 promoted, production protected."""
    protected = ProtectedAliases(production="revert", canary="revert")
    reg = Registry.from_settings(registry.settings.with_overrides(protected_aliases=protected))
    v1 = api.register("guarded", model_uri, card_path, registry=reg).version
    v2 = api.register("guarded", model_uri, card_path, registry=reg).version
    api.promote("guarded", v1, "production", force=True, reason="first", registry=reg)
    api.promote("guarded", v2, "production", force=True, reason="second", registry=reg)
    return reg, v1, v2


def test_a_redelivered_move_is_put_back_once(guarded: tuple[Registry, str, str]) -> None:
    registry, v1, v2 = guarded
    managed = process_delivery(registry, _alias_payload("guarded", "production", v2), "d-managed")
    assert managed.managed and managed.restored is None

    registry.client.set_registered_model_alias("guarded", "production", v1)
    payload = _alias_payload("guarded", "production", v1)
    first = process_delivery(registry, payload, "d-raw", slack=0.1)  # one machine, one clock
    assert (first.managed, first.recorded, first.restored) == (False, True, v2)
    assert registry.aliases("guarded")["production"] == v2
    again = process_delivery(registry, payload, "d-raw", slack=0.1)
    assert (again.recorded, again.restored) == (False, None) and "already back" in again.why
    assert len(_events(registry, "guarded", REVERTED_ACTION)) == 1
    assert len(_events(registry, "guarded", UNMANAGED_ACTION)) == 1


def test_an_alias_is_not_put_back_while_an_mlgate_operation_never_finished(guarded: tuple[Registry, str, str]) -> None:
    registry, v1, v2 = guarded
    died = Event(action="promote-production", model="guarded", from_version=v2, to_version=v1, result="started")
    registry.record_event(died)  # a promotion whose process died midway
    registry.client.set_registered_model_alias("guarded", "production", v1)
    seen = process_delivery(registry, _alias_payload("guarded", "production", v1), "d-midway")
    assert seen.restored is None and "never finished" in seen.why
    assert registry.aliases("guarded")["production"] == v1 and not _events(registry, "guarded", REVERTED_ACTION)


def test_alert_mode_records_and_leaves_the_alias(registry: Registry, model_uri: str, card_path: Path) -> None:
    v1 = api.register("watched", model_uri, card_path, registry=registry).version
    v2 = api.register("watched", model_uri, card_path, registry=registry).version
    api.promote("watched", v1, "production", force=True, reason="first", registry=registry)
    registry.client.set_registered_model_alias("watched", "production", v2)
    seen = process_delivery(registry, _alias_payload("watched", "production", v2), "d-alert")
    assert (seen.managed, seen.recorded, seen.restored) == (False, True, None)
    assert registry.aliases("watched")["production"] == v2


def test_protected_aliases_are_read_with_strict_keys(tmp_path: Path) -> None:
    folder = tmp_path / "mlflow_config"
    folder.mkdir()
    env = {"MLGATE_CONFIG_DIR": str(folder), "MLFLOW_TRACKING_URI": "sqlite:///x.db"}

    def load(protected: Any) -> ProtectedAliases:
        (folder / "mlgate.yaml").write_text(yaml.safe_dump({"protected_aliases": protected}))
        return load_settings(env, cwd=tmp_path).protected_aliases

    assert load(None) == ProtectedAliases()  # every stage: alert, today's behaviour
    chosen = load({"production": "revert", "canary": "revert", "last-known-good": "alert"})
    assert chosen == ProtectedAliases(production="revert", canary="revert", staging="alert", last_known_good="alert")
    with pytest.raises(ConfigError, match="unknown key 'prod'"):
        load({"prod": "revert"})
    with pytest.raises(ConfigError, match="must be revert or alert"):
        load({"production": "fix"})
