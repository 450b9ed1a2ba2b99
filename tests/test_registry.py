"""The registry wrapper: errors that name what exists, events without read-modify-write, the lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mlgate import api
from mlgate.exceptions import LockHeld, ModelNotFound, RegistryUnavailable, VersionNotFound
from mlgate.registry import Event, Registry
from mlgate.testing import throwaway_settings


def test_unknown_model_and_version_name_what_exists(registry: Registry, model_uri: str, card_path: Path) -> None:
    api.register("churn", model_uri, card_path, registry=registry)
    with pytest.raises(ModelNotFound) as err:
        registry.model("chrun")
    assert "churn" in str(err.value)
    with pytest.raises(VersionNotFound) as err2:
        registry.version("churn", "7")
    assert "versions: 1" in str(err2.value)


def test_events_are_appended_without_losing_any(registry: Registry) -> None:
    registry.ensure_model("m")
    threads = [
        threading.Thread(target=registry.record_event, args=(Event(action=f"a{i}", model="m"),)) for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(e.action for e in registry.events("m")) == sorted(f"a{i}" for i in range(8))


def test_an_operation_shows_its_latest_phase_once(registry: Registry) -> None:
    registry.ensure_model("m")
    event = Event(action="promote-production", model="m", to_version="1", result="started")
    registry.record_event(event)
    event.result = "completed"
    registry.record_event(event)
    events = registry.events("m")
    assert [(e.action, e.result) for e in events] == [("promote-production", "completed")]


def test_a_second_holder_waits_then_fails_clearly(settings, registry: Registry) -> None:
    registry.ensure_model("m")
    impatient = Registry.from_settings(settings.with_overrides(lock_wait_seconds=0.5, actor="bob"))
    with registry.lock("m", "promote v1"):
        start = time.monotonic()
        with pytest.raises(LockHeld) as err, impatient.lock("m", "rollback"):
            pass
        assert time.monotonic() - start >= 0.5
    assert "tester" in str(err.value) and "promote v1" in str(err.value)
    with impatient.lock("m", "rollback"):  # released: free again
        assert registry.lock_info("m") is not None
    assert registry.lock_info("m") is None


def test_an_expired_lock_is_taken_over(settings, registry: Registry) -> None:
    registry.ensure_model("m")
    dead = Registry.from_settings(settings.with_overrides(lock_ttl_seconds=0.2))
    cm = dead.lock("m", "a process that died")
    cm.__enter__()  # never released: its holder "died"
    time.sleep(0.3)
    with registry.lock("m", "after the crash") as info:
        held = registry.lock_info("m")
        assert held is not None and held.token == info.token and held.purpose == "after the crash"
    assert registry.lock_info("m") is None
    assert "mlgate-lock.m" not in registry.model_names()


def test_lock_models_are_hidden_from_model_lists(registry: Registry) -> None:
    registry.ensure_model("m")
    with registry.lock("m", "x"):
        assert registry.model_names() == ["m"]


def test_an_unreachable_server_names_the_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    settings = throwaway_settings(tmp_path, tracking_uri="http://127.0.0.1:9", registry_uri="http://127.0.0.1:9")
    registry = Registry.from_settings(settings)
    with pytest.raises(RegistryUnavailable) as err:
        registry.model("m")
    assert "http://127.0.0.1:9" in str(err.value)
    assert "make server" in str(err.value)


def test_mlflow_uris_in_two_threads_each_see_their_own_store_and_restore_the_global(tmp_path: Path) -> None:
    import os

    import mlflow

    from mlgate.registry import mlflow_uris

    before = (mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI"))
    stores = [throwaway_settings(tmp_path / name) for name in ("a", "b")]
    wrong: list[str] = []

    def work(settings: object) -> None:
        for _ in range(30):
            with mlflow_uris(settings):  # type: ignore[arg-type]
                time.sleep(0.001)  # the other thread runs here
                if mlflow.get_tracking_uri() != settings.tracking_uri:  # type: ignore[attr-defined]
                    wrong.append(mlflow.get_tracking_uri())

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []  # a gateway loading in the background never points the caller at its store
    after = (mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI"))
    assert after == before
