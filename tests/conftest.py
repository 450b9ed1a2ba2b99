"""Shared fixtures: every test gets a throwaway sqlite registry and can never touch a real one."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from mlgate.config import Settings
from mlgate.registry import Registry
from mlgate.testing import QUIET_ENV, log_tiny_model, throwaway_settings, write_card

# servers; webhook receivers; Alertmanager; the `extra` marker (skips in the core-install session)
pytest_plugins = ["backends", "alert_helpers", "alertmanager_support", "extras_support"]

# A pytest-xdist worker's __main__ has neither __spec__ nor __file__: pyspark.sql.connect (imported by Great
# Expectations when pyspark is installed) takes that for its doctest runner and calls sys.exit(0) without grpc.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear MLFLOW_* / MLGATE_*, point HOME at a temporary folder, keep analytics off."""
    for key in list(os.environ):
        if key.startswith(("MLFLOW_", "MLGATE_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    for key, value in QUIET_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="session")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One sqlite store with one logged tiny model, made once per session (logging costs seconds)."""
    os.environ.update(QUIET_ENV)
    folder = tmp_path_factory.mktemp("template-store")
    settings = throwaway_settings(folder)
    Registry.from_settings(settings)  # creates the schema
    uri = log_tiny_model(settings)
    return folder, uri


@pytest.fixture
def settings(tmp_path: Path, template_store: tuple[Path, str]) -> Settings:
    """Settings for a private copy of the template store (its artifacts stay shared, read-only)."""
    folder, _ = template_store
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(folder / "mlflow.db", store / "mlflow.db")
    config_dir = tmp_path / "mlflow_config"
    config_dir.mkdir()
    return throwaway_settings(store, config_dir=config_dir, artifact_root=str(tmp_path / "store" / "artifacts"))


@pytest.fixture
def registry(settings: Settings) -> Registry:
    return Registry.from_settings(settings)


@pytest.fixture
def model_uri(template_store: tuple[Path, str]) -> str:
    """URI of the logged tiny model (present in every copy of the template store)."""
    return template_store[1]


@pytest.fixture
def card_path(tmp_path: Path) -> Path:
    return write_card(tmp_path / "card.yaml")


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the CLI (and load_settings) at the test's store through MLGATE_CONFIG_DIR."""
    assert settings.config_dir is not None
    (settings.config_dir / "mlgate.yaml").write_text(
        yaml.safe_dump(
            {
                "tracking_uri": settings.tracking_uri,
                "artifact_root": settings.artifact_root,
                "lock_wait_seconds": settings.lock_wait_seconds,
            }
        )
    )
    monkeypatch.setenv("MLGATE_CONFIG_DIR", str(settings.config_dir))
    monkeypatch.setenv("MLGATE_ACTOR", "tester")
    return settings
