"""`mlgate server` / `make server`: the MLflow server command for the embedded store or a team profile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml
from backends import VENV_BIN, clean_env, free_port
from click.testing import CliRunner

from mlgate.cli import main
from mlgate.config import Settings


def _profile(settings: Settings, **data: object) -> None:
    assert settings.config_dir is not None
    (settings.config_dir / "team.yaml").write_text(yaml.safe_dump(data))


def test_team_profile_command_never_shows_the_database_password(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _profile(cli_env, backend_store_uri="postgresql://mlflow@db:5432/mlflow", artifacts_destination="s3://b/a")
    monkeypatch.setenv("MLGATE_BACKEND_STORE_URI", "postgresql://mlflow:Pa55word@db:5432/mlflow")
    text = CliRunner().invoke(main, ["server", "--profile", "team", "--dry-run"])
    assert text.exit_code == 0, text.output
    assert "postgresql+psycopg2://mlflow:***@db:5432/mlflow" in text.output
    assert "s3://b/a" in text.output and "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY is not set" in text.output
    as_json = CliRunner().invoke(main, ["server", "--profile", "team", "--dry-run", "--json", "--port", "5111"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["url"] == "http://127.0.0.1:5111"
    assert "Pa55word" not in text.output + as_json.output


@pytest.mark.parametrize(
    ("profile", "env", "message"),
    [
        ({"backend_store_uri": "sqlite:///x.db", "artifacts_destination": "a", "wrokers": 2}, {}, "unknown key"),
        ({"artifacts_destination": "a"}, {}, "needs backend_store_uri"),
        ({"backend_store_uri": "sqlite:///x.db", "artifacts_destination": "a", "app_name": "basic-auth"}, {},
         "MLFLOW_FLASK_SERVER_SECRET_KEY"),
        (None, {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "already a server"),
    ],
)  # fmt: skip
def test_misconfigured_server_is_one_clear_error(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch, profile: dict | None, env: dict, message: str
) -> None:
    if profile is not None:
        _profile(cli_env, **profile)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["server", "--dry-run", *(["--profile", "team"] if profile else [])])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output


def test_server_serves_the_embedded_store(cli_env: Settings, tmp_path: Path) -> None:
    """What `make server` runs: an MLflow server over the configured sqlite store, on loopback."""
    port = free_port()
    env = clean_env(MLGATE_CONFIG_DIR=os.environ["MLGATE_CONFIG_DIR"], MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(VENV_BIN / "mlgate"), "server", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        from mlflow import MlflowClient

        assert MlflowClient(url, url).search_experiments()  # the store the config names, through the server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    text = (tmp_path / "server.log").read_text()
    assert f"on http://127.0.0.1:{port}" in text and cli_env.tracking_uri in text
