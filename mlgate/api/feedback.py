"""Ground truth: load labels for answered requests from a file (the gateway takes them over POST /feedback)."""

from __future__ import annotations

from pathlib import Path

from mlgate.config import Settings, load_settings
from mlgate.monitor.feedback import load_file
from mlgate.monitor.run import load_monitor_config
from mlgate.serving.labels import Receipt


def feedback_load(
    path: str | Path, request_id_column: str = "request_id", label_column: str = "label",
    settings: Settings | None = None,
) -> Receipt:  # fmt: skip
    """Store the labels of a CSV or Parquet file (request id, label, optional row) beside the prediction record.

    Returns a ``Receipt``: accepted, replaced, unknown request ids, and each rejected row with why.
    """
    settings = settings or load_settings()
    config = load_monitor_config(settings)
    return load_file(settings, config, path, request_id_column, label_column)
