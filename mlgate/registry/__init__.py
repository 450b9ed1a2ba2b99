"""The registry: the only package that talks to MLflow's client (versions, aliases, tags, runs, artifacts,
webhooks), plus the history of events, the lock, the tag keys, version states, the model card and package."""

from __future__ import annotations

from mlgate.registry.client import Registry, first_line
from mlgate.registry.events import Event, interrupted_operation, utcnow
from mlgate.registry.lock import LockInfo
from mlgate.registry.uris import mlflow_uris

__all__ = ["Event", "LockInfo", "Registry", "first_line", "interrupted_operation", "mlflow_uris", "utcnow"]
