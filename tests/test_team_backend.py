"""The release lifecycle on both backends: a sqlite file, and an MLflow server over PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from backends import Backend, free_port
from click.testing import CliRunner

from mlgate import api
from mlgate.cli import main
from mlgate.gate.record import policy_hash
from mlgate.registry import Registry, keys, utcnow


def record_passing_gate(registry: Registry, name: str, version: str, stage: str = "production") -> None:
    """Write the record a passing gate run leaves on a version (the gate itself is tested elsewhere)."""
    registry.set_version_tag(name, version, keys.gate_tag(stage), "passed")
    registry.set_version_tag(name, version, keys.gate_policy_hash_tag(stage), policy_hash(registry.settings, name))
    registry.set_version_tag(name, version, keys.gate_time_tag(stage), utcnow())


def test_release_lifecycle_agrees_on_both_backends(backend: Backend, card_path: Path) -> None:
    reg, name = backend.registry, backend.name
    v1 = api.register(name, backend.model_uri, card_path, registry=reg).version
    v2 = api.register(name, backend.model_uri, card_path, registry=reg).version

    first = api.promote(name, v1, "production", force=True, reason="first release", registry=reg)
    assert first.smoke is not None and first.smoke.passed, first.smoke
    record_passing_gate(reg, name, v2, "staging")
    api.promote(name, v2, "staging", registry=reg)
    record_passing_gate(reg, name, v2, "production")
    second = api.promote(name, v2, "production", registry=reg)
    assert (second.previous, second.last_known_good) == (v1, v1)
    assert second.gate.startswith("passed")

    back = api.rollback(name, reason="error rate up", registry=reg)
    assert (back.plan.from_version, back.plan.to_version) == (v2, v1)
    assert back.smoke is not None and back.smoke.passed

    status = api.status(name, registry=reg)
    assert status.aliases == {"production": v1}  # staging consumed, v2 rolled back: no last known good
    assert status.lock is None
    states = {s.version: s.status for s in status.versions}
    assert states == {v1: "production", v2: "rolled-back"}

    history = api.history(name, registry=reg)
    assert [e.action for e in history] == [
        "rollback", "promote-production", "promote-staging", "promote-production", "register", "register",
    ]  # fmt: skip
    assert all(e.result == "completed" for e in history)
    assert history[0].to_version == status.aliases["production"]
    assert history[3].reason == "first release" and history[3].details["forced"] is True


def test_cli_reads_the_team_server_through_mlflow_tracking_uri(
    backend: Backend, card_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend.kind != "postgres-server":
        pytest.skip("covered by the CLI tests of the sqlite store")
    version = api.register(backend.name, backend.model_uri, card_path, registry=backend.registry).version
    record_passing_gate(backend.registry, backend.name, version, "staging")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", backend.settings.tracking_uri)
    monkeypatch.setenv("MLGATE_ACTOR", "cli-user")
    runner = CliRunner()
    promoted = runner.invoke(main, ["promote", backend.name, version, "--to", "staging"])
    assert promoted.exit_code == 0, promoted.output
    shown = runner.invoke(main, ["status", backend.name])
    assert shown.exit_code == 0, shown.output
    assert backend.settings.tracking_uri in shown.output and f"v{version}" in shown.output
    events = api.history(backend.name, registry=backend.registry)
    assert events[0].action == "promote-staging" and events[0].actor == "cli-user"


def test_unreachable_tracking_server_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://ops:hunter2@127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = CliRunner().invoke(main, ["promote", "fraud", "3", "--to", "staging"])
    assert result.exit_code == 1, result.output
    first_line = result.output.strip().splitlines()[0]
    assert first_line.startswith("error: cannot reach the MLflow tracking server at http://ops:***@127.0.0.1:")
    assert str(port) in first_line
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output
