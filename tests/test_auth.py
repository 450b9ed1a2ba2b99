"""Permissions on an MLflow server with the basic-auth app: READ is refused a promotion, EDIT may promote."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from backends import AuthServer, credentials, server_settings
from click.testing import CliRunner, Result

from mlgate import api
from mlgate.cli import main
from mlgate.gate.record import policy_hash
from mlgate.registry import Registry, keys, utcnow


def _as(user: str, password: str, url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def owned_model(auth_server: AuthServer, tmp_path: Path, card_path: Path) -> tuple[Registry, str]:
    """A model the admin registered (a logged model without files: staging runs no smoke test)."""
    name = f"credit-scoring-{uuid.uuid4().hex[:6]}"
    with credentials(auth_server.admin, auth_server.admin_password):
        settings = server_settings(auth_server.url, tmp_path / "cfg", actor="admin")
        registry = Registry.from_settings(settings)
        experiment = registry.client.create_experiment(f"auth-{name}")
        logged = registry.client.create_logged_model(experiment, name="model")
        version = api.register(name, f"models:/{logged.model_id}", card_path, registry=registry).version
        for tag, value in (
            (keys.gate_tag("staging"), "passed"),
            (keys.gate_policy_hash_tag("staging"), policy_hash(settings, name)),
            (keys.gate_time_tag("staging"), utcnow()),
        ):
            registry.set_version_tag(name, version, tag, value)
    return registry, name


def test_read_user_is_refused_with_the_permission_named_and_nothing_changes(
    auth_server: AuthServer, owned_model: tuple[Registry, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, name = owned_model
    auth_server.create_user(user := f"reader-{name[-6:]}", "reader-password-1")  # default_permission: READ
    result = _as(user, "reader-password-1", auth_server.url, monkeypatch, "promote", name, "1", "--to", "staging")
    assert result.exit_code == 1, result.output
    assert "refused" in result.output and "Permission denied" in result.output
    assert "EDIT permission" in result.output  # what to ask the owner for
    assert "Traceback" not in result.output
    with credentials(auth_server.admin, auth_server.admin_password):
        assert "staging" not in registry.aliases(name)
        assert registry.lock_info(name) is None  # the refused user's lock was released
        assert [e.action for e in registry.events(name)] == ["register"]


def test_edit_user_can_promote_and_is_recorded_as_the_actor(
    auth_server: AuthServer, owned_model: tuple[Registry, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, name = owned_model
    auth_server.create_user(user := f"editor-{name[-6:]}", "editor-password-1")
    auth_server.grant(user, name, "EDIT")
    result = _as(user, "editor-password-1", auth_server.url, monkeypatch, "promote", name, "1", "--to", "staging")
    assert result.exit_code == 0, result.output
    with credentials(auth_server.admin, auth_server.admin_password):
        assert registry.aliases(name).get("staging") == "1"
        newest = registry.events(name)[0]
    assert (newest.action, newest.actor, newest.result) == ("promote-staging", user, "completed")


def test_wrong_password_says_which_credentials_to_fix(
    auth_server: AuthServer, owned_model: tuple[Registry, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, name = owned_model
    result = _as("admin", "not-the-password", auth_server.url, monkeypatch, "status", name)
    assert result.exit_code == 1, result.output
    assert "MLFLOW_TRACKING_PASSWORD" in result.output
    assert "not-the-password" not in result.output and "Traceback" not in result.output
