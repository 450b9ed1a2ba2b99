"""Serving reliability: replicas converge, alias moves under load, broken artifacts, a webhook that was down."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import yaml
from click.testing import CliRunner

from bench.bench_reliability import churn
from mlgate import api
from mlgate.alerts import Alert, AlertRouter
from mlgate.cli import main
from mlgate.config import Settings
from mlgate.registry import Registry, keys
from mlgate.registry.package import load_package
from mlgate.serving import running_gateway
from tests.serving_helpers import NAME, module_registry, rows, split_body

POLL = 0.3
PERIODS = ("business_hours", "out_of_hours")


@pytest.fixture
def reg(tmp_path: Path, template_store: tuple[Path, str]) -> Registry:
    return module_registry(tmp_path, template_store, versions=2)


def served_version(url: str) -> str:
    return httpx.post(url + "/invocations", json=split_body(rows(1)), timeout=10).headers["X-Mlgate-Model-Version"]


def within(seconds: float, condition: Callable[[], bool]) -> float:
    """Seconds until ``condition`` holds; fails the test after ``seconds``."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - start


# --- 1. replicas converge ----------------------------------------------------------------------------
def test_two_replicas_converge_on_a_new_production_within_the_poll_interval(reg: Registry) -> None:
    with (
        running_gateway(reg, NAME, poll_seconds=POLL, record=False) as a,
        running_gateway(reg, NAME, poll_seconds=POLL, record=False) as b,
    ):
        assert served_version(a) == served_version(b) == "1"
        reg.set_alias(NAME, "production", "2")
        # one poll interval to notice, plus the download and load of the tiny model (well under 5 s here)
        took = within(POLL + 5.0, lambda: served_version(a) == "2" and served_version(b) == "2")
        assert took < POLL + 5.0
        for url in (a, b):  # and they stay there: no replica flips back
            assert {served_version(url) for _ in range(5)} == {"2"}
            assert httpx.get(url + "/version").json()["production"] == "2"


# --- 2. alias moves under load -----------------------------------------------------------------------
def test_alias_moving_every_second_under_concurrent_load_fails_no_request(reg: Registry) -> None:
    # 10,000 requests take 5-10 s here, idle or busy: enough for at least 3 moves at one a second
    figures = churn(reg, NAME, requests=10_000, clients=4, switch_every=1.0, poll_seconds=0.2)
    assert figures["requests"] == 10_000
    assert figures["server_errors"] == 0 and figures["connection_errors"] == 0, figures["statuses"]
    assert set(figures["statuses"]) == {200}
    assert figures["moves"] >= 3, f"the load ended after {figures['seconds']:.1f} s: too few alias moves"
    assert figures["versions_seen"] == ["1", "2"] and figures["switches_seen"] >= figures["moves"]
    assert figures["p99_ms"] > 0  # recorded (no bound asserted: timing belongs to bench/bench_reliability.py)


# --- 3. a version with missing or corrupt artifacts ----------------------------------------------------
def _broken_version(reg: Registry, tmp_path: Path, how: str) -> str:
    """Register a version from a local folder copy of v1's model, then corrupt or delete its model file."""
    local = load_package(reg, NAME, "1", tmp_path / "good").path
    folder = tmp_path / f"model-{how}"
    shutil.copytree(local, folder)
    if how == "corrupt":
        (folder / "model.pkl").write_bytes(b"\x80\x04not a pickle at all")
    else:
        (folder / "model.pkl").unlink()
    mv = reg.client.create_model_version(NAME, source=str(folder), tags={keys.STATUS: "candidate"})
    return str(mv.version)


@pytest.mark.parametrize("how", ["corrupt", "missing"])
def test_broken_artifacts_fail_the_gate_and_the_gateway_keeps_the_old_version(
    cli_env: Settings, registry: Registry, model_uri: str, card_path: Path, tmp_path: Path, how: str
) -> None:
    reg = registry
    api.register(NAME, model_uri, card_path, registry=reg)
    reg.set_alias(NAME, "production", "1")
    broken = _broken_version(reg, tmp_path, how)
    assert cli_env.config_dir is not None
    (cli_env.config_dir / "policy.yaml").write_text(yaml.safe_dump({"stages": {"production": ["model_loads"]}}))
    runner = CliRunner()
    good = runner.invoke(main, ["check", NAME, "1", "--stage", "production", "--json"])
    assert good.exit_code == 0, good.output
    checked = runner.invoke(main, ["check", NAME, broken, "--stage", "production", "--json"])
    assert checked.exit_code == 1, checked.output
    report = json.loads(checked.output)
    [row] = [c for c in report["checks"] if c["name"] == "model_loads"]
    assert report["result"] == "failed" and row["status"] in ("fail", "error"), row
    assert f"v{broken} does not load" in row["evidence"] and "missing or corrupt" in row["action"], row
    assert "Traceback" not in checked.output
    table = runner.invoke(main, ["check", NAME, broken, "--stage", "production"])
    assert table.exit_code == 1 and "✗  model_loads" in table.output, table.output

    with running_gateway(reg, NAME, poll_seconds=0.2, record=False) as url:
        reg.set_alias(NAME, "production", broken)
        within(20, lambda: broken in httpx.get(url + "/health").json()["failed_versions"])
        for _ in range(5):
            answer = httpx.post(url + "/invocations", json=split_body(rows(2)))
            assert answer.status_code == 200 and answer.headers["X-Mlgate-Model-Version"] == "1"
        assert httpx.get(url + "/health").json()["status"] == "degraded"
    [event] = [e for e in reg.events(NAME) if e.action == "serving-load-failed"]
    assert event.to_version == broken and event.from_version == "1" and event.result == "failed"


# --- 4. the alert webhook down for a while -------------------------------------------------------------
class Receiver:
    """A real loopback webhook receiver on a fixed port that can be stopped and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answer = 200
        self.received: list[tuple[int, dict[str, Any]]] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.received.append((owner.answer, body))
                self.send_response(owner.answer)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def delivered(self) -> list[dict[str, Any]]:
        return [body for status, body in self.received if status == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = Receiver(port)
    yield r
    r.stop()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_alerts_are_kept_while_the_webhook_is_down_and_delivered_once_when_it_returns(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    assert settings.config_dir is not None
    owners = {
        "targets": {"pager": {"kind": "json", "url": f"http://127.0.0.1:{receiver.port}/hook"}},
        "owners": {"ml@example.com": {period: {"person": "oncall", "targets": ["pager"]} for period in PERIODS}},
    }
    (settings.config_dir / "owners.yaml").write_text(yaml.safe_dump(owners))
    clock = Clock()

    def router() -> AlertRouter:  # a fresh router each time, as cron-run monitor passes make them
        return AlertRouter(
            settings, session=requests.Session(), clock=clock, sleep=lambda s: None,
            state_path=tmp_path / "alerts.json", attempts=2, backoff=0.01, timeout=2,
        )  # fmt: skip

    alert = Alert(
        model=NAME, signal="serving.load_failed", severity="critical", summary="v3 failed", owner="ml@example.com"
    )
    note = router().fire(alert)  # nothing listens: connection refused
    assert note.action == "sent" and not note.delivered, note
    assert "ConnectionError" in (note.deliveries[0].error or "")
    assert len(router().outbox()) == 1

    receiver.answer = 500  # up again but failing
    receiver.start()
    clock.now += 120
    assert [r.ok for r in router().flush()] == [False]
    assert len(router().outbox()) == 1 and router().outbox()[0]["error"] == "HTTP 500"
    assert router().fire(alert).action == "deduplicated"  # still firing: no second copy queued
    assert len(router().outbox()) == 1

    receiver.answer = 200  # the webhook is back
    assert router().flush() == []  # the retry is backed off: not due yet
    clock.now += 3600
    assert [r.ok for r in router().flush()] == [True]
    assert router().outbox() == []
    clock.now += 3600
    assert router().flush() == []
    [body] = receiver.delivered()  # exactly once
    assert body["event"] == "alert.firing" and body["signal"] == "serving.load_failed" and body["person"] == "oncall"
