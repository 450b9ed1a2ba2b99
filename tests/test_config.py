"""Settings resolution: config file, environment overrides, and no silent fallback to ./mlflow.db."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.config import load_settings, redact_uri
from mlgate.exceptions import ConfigError


def write_config(folder: Path, text: str) -> Path:
    config_dir = folder / "mlflow_config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "mlgate.yaml").write_text(text)
    return config_dir


def test_relative_sqlite_path_resolves_against_the_project_root(tmp_path: Path) -> None:
    write_config(tmp_path, "tracking_uri: sqlite:///.mlgate/mlflow.db\nartifact_root: .mlgate/artifacts\n")
    settings = load_settings(env={}, cwd=tmp_path / "mlflow_config")
    assert settings.tracking_uri == f"sqlite:///{tmp_path}/.mlgate/mlflow.db"
    assert settings.registry_uri == settings.tracking_uri
    assert settings.artifact_root == str(tmp_path / ".mlgate" / "artifacts")


def test_config_is_found_from_a_subfolder(tmp_path: Path) -> None:
    write_config(tmp_path, "tracking_uri: sqlite:///db.sqlite\n")
    sub = tmp_path / "pipelines" / "deep"
    sub.mkdir(parents=True)
    assert load_settings(env={}, cwd=sub).tracking_uri == f"sqlite:///{tmp_path}/db.sqlite"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    write_config(tmp_path, "tracking_uri: sqlite:///db.sqlite\nlock_ttl_seconds: 60\n")
    env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5999", "MLGATE_LOCK_TTL_SECONDS": "5", "MLGATE_ACTOR": "ci"}
    settings = load_settings(env=env, cwd=tmp_path)
    assert settings.tracking_uri == "http://127.0.0.1:5999"
    assert settings.lock_ttl_seconds == 5
    assert settings.actor == "ci"


def test_no_uri_anywhere_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={}, cwd=tmp_path)
    assert "MLFLOW_TRACKING_URI" in str(err.value)
    assert "mlflow.db" in str(err.value)
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tracking_uri: [unclosed\n", "not valid YAML"),
        ("- a list\n", "mapping"),
        ("tracking_uri: sqlite:///x.db\ntracking_url: typo\n", "unknown setting(s) tracking_url"),
        ("tracking_uri: sqlite:///x.db\nlock_ttl_seconds: soon\n", "lock_ttl_seconds must be a number"),
        ("tracking_uri: sqlite:///x.db\naliases: {prod: live}\n", "aliases"),
    ],
)
def test_bad_config_names_the_file_and_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(env={}, cwd=tmp_path)
    assert fragment in str(err.value)
    assert "mlgate.yaml" in str(err.value) or "YAML" in str(err.value)


def test_profiles_select_the_team_server(tmp_path: Path) -> None:
    write_config(
        tmp_path, "tracking_uri: sqlite:///x.db\nprofiles:\n  team:\n    tracking_uri: http://127.0.0.1:5000\n"
    )
    assert load_settings(env={"MLGATE_PROFILE": "team"}, cwd=tmp_path).tracking_uri == "http://127.0.0.1:5000"
    with pytest.raises(ConfigError, match="no profile 'prod'"):
        load_settings(env={"MLGATE_PROFILE": "prod"}, cwd=tmp_path)


def test_passwords_are_redacted() -> None:
    assert redact_uri("postgresql://mlflow:s3cret@db:5432/mlflow") == "postgresql://mlflow:***@db:5432/mlflow"
    assert "s3cret" not in redact_uri("http://alice:s3cret@host/")
    assert redact_uri("sqlite:///x.db") == "sqlite:///x.db"
