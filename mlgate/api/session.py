"""The registry an API call works on: the one passed in, else one on the configured store."""

from __future__ import annotations

from mlgate import heap
from mlgate.config import Settings, load_settings
from mlgate.registry import Registry


def connect(settings: Settings | None = None) -> Registry:
    """A Registry on the configured MLflow store (config file, then environment)."""
    registry = Registry.from_settings(settings or load_settings())
    heap.loaded()  # a command's imports are done: see mlgate/heap.py (a no-op outside the CLI)
    return registry


def registry_or_connect(registry: Registry | None) -> Registry:
    """``registry`` when given, else a new one on the configured store (each API function takes either)."""
    return registry if registry is not None else connect()
