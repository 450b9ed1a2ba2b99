"""The MLflow UI descriptions are rewritten once per locked operation, and the history survives a deleted experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rollout_support import pass_gate

from mlgate import api
from mlgate.registry import Event, Registry, history

NAME = "described"


def test_an_operation_rewrites_the_descriptions_once_and_leaves_them_current(
    registry: Registry, model_uri: str, card_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = api.register(NAME, model_uri, card_path, registry=registry).version
    v2 = api.register(NAME, model_uri, card_path, registry=registry).version
    for version in (v1, v2):
        pass_gate(registry, NAME, version, "staging", "production")
    api.promote(NAME, v1, "production", registry=registry)
    writes: list[str] = []
    update = registry.client.update_registered_model

    def counted(name: str, **kwargs: Any) -> Any:
        writes.append(name)
        return update(name, **kwargs)

    monkeypatch.setattr(registry.client, "update_registered_model", counted)
    with registry.lock(NAME, "three transitions"):
        for step in range(3):
            registry.record_event(Event("rollout-step", NAME, v1, v2, actor="ci", reason=f"step {step}"))
        assert "step 0" not in (registry.model(NAME).description or "")  # not yet: once, at the end
    assert writes == [NAME]
    summary = registry.model(NAME).description or ""
    assert "step 2" in summary and "step 1" in summary and "step 0" in summary

    api.promote(NAME, v2, "production", reason="retrained", registry=registry)
    assert writes == [NAME, NAME]  # started + completed: one rewrite
    summary = registry.model(NAME).description or ""
    assert "- **Production:** v2" in summary and "retrained" in summary
    assert "Status:** production" in (registry.version(NAME, v2).description or "")
    assert "Status:** production" not in (registry.version(NAME, v1).description or "")

    # a failure inside the locked section still leaves the descriptions current
    with pytest.raises(RuntimeError), registry.lock(NAME, "fails midway"):
        registry.record_event(Event("rollout-pause", NAME, v2, v2, actor="ci", reason="paused by hand"))
        raise RuntimeError("midway")
    assert "paused by hand" in (registry.model(NAME).description or "")


def test_events_are_still_recorded_after_the_history_experiment_was_deleted(
    registry: Registry, model_uri: str, card_path: Path
) -> None:
    api.register(NAME, model_uri, card_path, registry=registry)
    exp = history.experiment_id(registry, NAME)
    assert exp is not None and registry.history_experiments[history.experiment_name(NAME)] == exp  # cached
    registry.client.delete_experiment(exp)  # someone deletes it in the MLflow UI
    registry.record_event(Event("rollout-step", NAME, "1", "1", actor="ci", reason="after the delete"))
    assert [e.reason for e in api.history(NAME, limit=1, registry=registry)] == ["after the delete"]
    fresh = Registry.from_settings(registry.settings)  # a later command: nothing cached
    assert [e.action for e in api.history(NAME, registry=fresh)] == ["rollout-step", "register"]  # restored
