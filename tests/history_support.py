"""A writer of the history format mlgate used before `mlgate migrate`: each event a tag of the registered model."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

from mlgate.registry import Event, Registry

OLD_PREFIX = "mlgate.event."


def write_old_event(registry: Registry, event: Event) -> None:
    """Exactly what Registry.record_event wrote up to this release: one registered-model tag per event phase."""
    key = f"{OLD_PREFIX}{time.time_ns():020d}.{event.op_id}.{event.result}"
    registry.client.set_registered_model_tag(event.model, key, event.to_json())


@contextlib.contextmanager
def old_release(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every event recorded inside is written in the old format (a registry written by the previous release)."""
    with monkeypatch.context() as patch:
        patch.setattr(Registry, "record_event", write_old_event)
        yield


def old_event_tags(registry: Registry, name: str) -> list[str]:
    return sorted(k for k in registry.client.get_registered_model(name).tags if k.startswith(OLD_PREFIX))
