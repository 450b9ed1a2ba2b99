"""One production monitoring pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgate.api.session import registry_or_connect
from mlgate.config.durations import parse_duration
from mlgate.exceptions import UsageError
from mlgate.monitor.run import MonitorOptions, run_pass
from mlgate.registry import Registry


def monitor(
    name: str,
    window: str | float = "1h",
    batch: str | Path | Any = None,
    version: str | int | None = None,
    tests: tuple[str, ...] | None = None,
    report_dir: str | Path | None = None,
    alert: bool = True,
    progress: Any = None,
    score: bool = False,
    registry: Registry | None = None,
) -> Any:
    """One monitoring pass over the gateway's last ``window`` (or a CSV / Parquet ``batch``, or a pyspark DataFrame).

    Returns a ``mlgate.monitor.run.PassResult`` (``.signals``, ``.checks``, ``.firing``,
    ``.report_path``, ``.to_dict()``); breached rules of alerts.yaml go to the owner on duty.
    """
    options = MonitorOptions(
        window_seconds=parse_duration(window, "window", error=UsageError),
        batch=batch,
        version=None if version is None else str(version),
        tests=tests,
        report_dir=report_dir,
        alert=alert,
        progress=progress,
        score=score,
    )
    return run_pass(registry_or_connect(registry), name, options)
