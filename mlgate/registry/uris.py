"""Point MLflow's process-wide tracking and registry URIs at mlgate's store for a block, one thread at a time."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlgate.config import Settings

_URIS_LOCK = threading.RLock()


@contextlib.contextmanager
def mlflow_uris(settings: Settings) -> Iterator[None]:
    """Point MLflow's global tracking and registry URIs at mlgate's for a block, then restore them
    (MLflow also writes them into os.environ, which would leak into later settings).

    One thread at a time: the URIs are process-wide, and two threads saving and restoring them
    interleaved (a gateway loading a model in the background while the caller registers) left
    one thread's store as the global one afterwards.
    """
    with _URIS_LOCK, _pointed_at(settings):
        yield


@contextlib.contextmanager
def _pointed_at(settings: Settings) -> Iterator[None]:
    import mlflow
    from mlflow.tracking import fluent
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    saved_experiment = fluent._active_experiment_id  # an id from another store means nothing here
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri)
    fluent._active_experiment_id = None
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved
        fluent._active_experiment_id = saved_experiment
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
