"""Canary rollouts on a real sqlite registry and the gateway's real prediction record: start, advance,
pause, resume, abort, complete, and `rollout run` deciding from live figures."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from mlgate import api
from mlgate.config import Settings
from mlgate.exceptions import GateFailed, PolicyError, TransitionRefused
from mlgate.registry import Registry, keys
from mlgate.release.gating import canary_reasons
from mlgate.release.rollout import driver, steps
from mlgate.release.rollout import state as rollout_state
from mlgate.traffic import RegistryRouter, TrafficRouter
from tests.rollout_support import FakeClock, pass_gate, production_and_candidate, register, store, traffic


def write_policy(settings: Settings, **policy: object) -> None:
    assert settings.config_dir is not None
    base = {"steps": [10, 50, 100], "bake": "60s", "min_requests": 50}
    (settings.config_dir / "rollout.yaml").write_text(yaml.safe_dump({**base, **policy}))


def weight_tag(registry: Registry, name: str) -> str | None:
    return registry.model_tags(name).get(keys.CANARY_WEIGHT)


def actions(registry: Registry, name: str) -> list[str]:
    """The rollout's events, newest first."""
    return [e.action for e in registry.events(name) if e.action.startswith("rollout-")]


def test_start_needs_a_passing_canary_gate(registry: Registry, model_uri: str, tmp_path: Path) -> None:
    v1 = register(registry, "m", model_uri, tmp_path)
    pass_gate(registry, "m", v1, "production")
    api.promote("m", v1, "production", registry=registry)
    v2 = register(registry, "m", model_uri, tmp_path)
    with pytest.raises((GateFailed, PolicyError)):  # no policy, or a failed check: never a canary
        steps.start(registry, "m", v2)
    assert "canary" not in registry.aliases("m")


def test_start_advance_pause_resume_abort(registry: Registry, model_uri: str, tmp_path: Path) -> None:
    write_policy(registry.settings, steps=[5, 25, 50, 100])
    v1, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    started = steps.start(registry, "m", v2, reason="new features")
    assert registry.aliases("m")["canary"] == v2 and weight_tag(registry, "m") == "5"
    assert started.state is not None and started.state.baseline == v1 and started.weight == 5
    assert started.seconds_to_decision == pytest.approx(60, abs=5)

    assert steps.advance(registry, "m").weight == 25 and weight_tag(registry, "m") == "25"
    paused = steps.pause(registry, "m", reason="looking at a dashboard")
    assert paused.state is not None and paused.state.status == "paused" and paused.weight == 25
    with pytest.raises(TransitionRefused, match="in progress"):
        steps.start(registry, "m", register(registry, "m", model_uri, tmp_path))
    assert steps.resume(registry, "m").state.status == "running"  # type: ignore[union-attr]

    aborted = steps.abort(registry, "m", reason="owner is not convinced")
    assert aborted.state is not None and aborted.state.status == "aborted" and aborted.weight == 0
    assert "canary" not in registry.aliases("m") and weight_tag(registry, "m") is None
    assert registry.aliases("m")["production"] == v1
    assert registry.version("m", v2).tags[keys.STATUS] == "failed"
    assert actions(registry, "m")[:5] == [
        "rollout-abort",
        "rollout-resume",
        "rollout-pause",
        "rollout-step",
        "rollout-start",
    ]
    with pytest.raises(TransitionRefused, match="no rollout in progress"):
        steps.advance(registry, "m")


def test_advancing_past_the_last_step_makes_the_canary_production(
    registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    write_policy(registry.settings)
    v1, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    steps.start(registry, "m", v2)
    assert steps.advance(registry, "m").weight == 50
    done = steps.advance(registry, "m")
    assert done.state is not None and done.state.status == "completed"
    aliases = registry.aliases("m")
    assert aliases["production"] == v2 and aliases["last-known-good"] == v1 and "canary" not in aliases
    tags = registry.version("m", v2).tags
    assert tags[keys.HELD_PRODUCTION] == "true" and tags[keys.SMOKE] == "passed"
    complete = registry.events("m")[0]
    assert complete.action == "rollout-complete" and complete.details["previous_production"] == v1


def test_run_advances_on_good_figures_until_production(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    write_policy(settings)
    v1, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    clock = FakeClock()
    record = store(settings)
    record.record_many(traffic("m", v1, "production", clock.now, 200, 400))
    record.record_many(traffic("m", v2, "canary", clock.now, 200, 400))
    steps.start(registry, "m", v2, clock=clock)

    result = driver.run(registry, "m", record, clock=clock, sleep=clock.sleep, poll_seconds=10)
    assert result.state is not None and result.state.status == "completed"
    assert registry.aliases("m")["production"] == v2
    analyses = [e for e in registry.events("m") if e.action == "rollout-analysis"]
    assert [e.result for e in analyses] == ["pass", "pass"]
    assert analyses[-1].details["weight"] == 10 and analyses[0].details["weight"] == 50
    assert clock.now - result.state.started_at == pytest.approx(120, abs=15)  # two bake periods, no more


def owner_receiver(settings: Settings, request: pytest.FixtureRequest) -> list[dict[str, object]]:
    """A webhook receiver on loopback, routed to by owners.yaml for the model card's owner; returns what it got."""
    received: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    request.addfinalizer(server.shutdown)
    assert settings.config_dir is not None
    route = {"person": "alice@example.com", "targets": ["hook"]}
    owners = {
        "targets": {"hook": {"kind": "json", "url": f"http://127.0.0.1:{server.server_port}/hook"}},
        "hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "23:59"},
        "owners": {"ml-platform@example.com": {"business_hours": route, "out_of_hours": route}},
    }
    (settings.config_dir / "owners.yaml").write_text(yaml.safe_dump(owners))
    return received


def test_run_aborts_a_canary_that_errors_and_records_the_evidence(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    write_policy(settings)
    received = owner_receiver(settings, request)
    v1, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    clock = FakeClock()
    record = store(settings)
    record.record_many(traffic("m", v1, "production", clock.now, 200, 400))
    record.record_many(traffic("m", v2, "canary", clock.now, 200, 400, error_every=10))
    steps.start(registry, "m", v2, clock=clock)

    result = driver.run(registry, "m", record, clock=clock, sleep=clock.sleep, poll_seconds=10)
    assert result.state is not None and result.state.status == "aborted"
    assert "error rate" in (result.state.outcome or "")
    assert result.analysis is not None and result.analysis.canary.error_rate == pytest.approx(0.1, abs=0.02)
    aliases = registry.aliases("m")
    assert aliases["production"] == v1 and "canary" not in aliases
    abort = registry.events("m")[0]
    assert abort.action == "rollout-abort" and abort.result == "failed"
    assert abort.details["evidence"]["canary"]["errors"] > 0
    assert abort.details["alert"]["delivered"] is True and abort.details["alert"]["person"] == "alice@example.com"
    assert len(received) == 1 and f"canary v{v2}" in json.dumps(received[0])  # the owner heard it, once
    assert registry.version("m", v2).tags[keys.STATUS] == "failed"


def test_run_waits_for_traffic_then_pauses(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    write_policy(settings, min_requests=1000, max_extensions=2)
    _, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    clock = FakeClock()
    steps.start(registry, "m", v2, clock=clock)
    result = driver.run(registry, "m", store(settings), clock=clock, sleep=clock.sleep, poll_seconds=10)
    assert result.state is not None and result.state.status == "paused"
    assert "not enough requests" in (result.state.outcome or "")
    assert [e.result for e in registry.events("m") if e.action == "rollout-analysis"] == ["inconclusive"] * 3
    assert registry.aliases("m")["canary"] == v2  # held at its weight for a person to decide


def test_reconcile_puts_traffic_back_where_the_registry_says(
    registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    """A process killed after writing the state but before moving traffic: the next run finishes the move."""
    write_policy(registry.settings)
    _, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    steps.start(registry, "m", v2)
    state = rollout_state.load_state(registry, "m")
    assert state is not None
    state.step = 1  # the state says 50 % ...
    rollout_state.save_state(registry, state)
    assert weight_tag(registry, "m") == "10"  # ... traffic is still at 10 %
    notes = driver.reconcile(registry, state, RegistryRouter(registry, "m"))
    assert weight_tag(registry, "m") == "50" and "50%" in notes[0]


def test_registry_router_is_a_traffic_router(registry: Registry) -> None:
    assert isinstance(RegistryRouter(registry, "m"), TrafficRouter)


def test_risky_changes_cannot_go_straight_to_production(registry: Registry, model_uri: str, tmp_path: Path) -> None:
    write_policy(registry.settings, require_canary={"contract_major_change": True, "model_family_change": True})
    v1, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    assert canary_reasons(registry, "m", v2) == []  # same model family, no contract: no canary needed
    registry.set_version_tag("m", v1, keys.CONTRACT_VERSION, "1.4.0")
    registry.set_version_tag("m", v2, keys.CONTRACT_VERSION, "2.0.0")
    registry.set_version_tag("m", v2, "mlgate.model_family", "sklearn:GradientBoostingClassifier")
    reasons = canary_reasons(registry, "m", v2)
    assert any("major contract version (1.4.0 -> 2.0.0)" in r for r in reasons)
    assert any("another model family" in r and "LogisticRegression" in r for r in reasons)
    with pytest.raises(TransitionRefused, match="needs a canary") as refused:
        api.promote("m", v2, "production", registry=registry)
    assert f"mlgate rollout start m {v2}" in str(refused.value)
    assert registry.aliases("m")["production"] == v1
    forced = api.promote("m", v2, "production", force=True, reason="hotfix, canary skipped", registry=registry)
    assert forced.forced and registry.aliases("m")["production"] == v2


def test_the_rollout_cli(cli_env: Settings, model_uri: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mlgate.cli import main

    registry = Registry.from_settings(cli_env)
    write_policy(cli_env)
    v1 = register(registry, "m", model_uri, tmp_path)
    pass_gate(registry, "m", v1, "production")
    api.promote("m", v1, "production", registry=registry)
    v2 = register(registry, "m", model_uri, tmp_path)  # no canary gate on record
    runner = CliRunner()
    assert runner.invoke(main, ["rollout", "start", "m", v2, "--force"]).exit_code == 2  # --force needs --reason
    started = runner.invoke(main, ["rollout", "start", "m", v2, "--force", "--reason", "gate records pending"])
    assert started.exit_code == 0, started.output
    assert "[10%] -> 50% -> 100%" in started.output and "next decision in" in started.output
    assert "FORCED" in registry.events("m")[0].details["gate"]
    status = runner.invoke(main, ["rollout", "status", "m", "--json"])
    assert status.exit_code == 0 and '"weight": 10' in status.output
    aborted = runner.invoke(main, ["rollout", "abort", "m", "--reason", "changed my mind"])
    assert aborted.exit_code == 0 and "aborted -- changed my mind" in aborted.output
    again = runner.invoke(main, ["rollout", "abort", "m"])
    assert again.exit_code == 1 and "no rollout in progress" in again.output
