"""A READ-only user's smoke test on a basic-auth MLflow server passes and says no reference was recorded."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from backends import AuthServer, credentials, server_settings
from click.testing import CliRunner

from mlgate import api
from mlgate.cli import main
from mlgate.registry import Registry, keys
from mlgate.testing import log_tiny_model


def test_a_read_only_users_smoke_test_passes_without_recording_a_reference(
    auth_server: AuthServer, tmp_path: Path, card_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"iris-{uuid.uuid4().hex[:6]}"
    with credentials(auth_server.admin, auth_server.admin_password):
        settings = server_settings(auth_server.url, tmp_path / "admin", actor="admin")
        admin = Registry.from_settings(settings)
        uri = log_tiny_model(settings, experiment=f"smoke-{name}")
        version = api.register(name, uri, card_path, registry=admin).version
    auth_server.create_user(user := f"reader-{name[-6:]}", "reader-password-1")  # default_permission: READ
    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "reader-password-1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = CliRunner().invoke(main, ["smoke", name, "--version", version, "--json"])
    assert result.exit_code == 0, result.output
    smoke = json.loads(result.output)
    assert smoke["passed"] is True
    [note] = [n for n in smoke["notes"] if "reference" in n]
    assert note.startswith("smoke reference not recorded:") and "refused" in note, note
    with credentials(auth_server.admin, auth_server.admin_password):
        assert keys.SMOKE_REFERENCE not in (admin.version(name, version).tags or {})
