"""Shared data of the streamed and Spark monitoring tests: a shop's batches, its contract, the verdicts compared."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

CONTRACT = {
    "name": "shop",
    "version": "1.0.0",
    "defaults": {"on_invalid": "reject_row", "on_null": "reject_row"},
    "columns": [
        {"name": "amount", "type": "float", "nullable": True, "range": {"min": 0, "max": 400}},
        {"name": "items", "type": "int", "nullable": True},
        {"name": "channel", "type": "str", "nullable": False, "allowed": ["web", "app", "shop"]},
    ],
    "backfill": {"strategy": "forward_only", "description": "nothing to backfill in a test"},
}  # fmt: skip


def shop(n: int, seed: int, drifted: bool = False, region: bool = True, planted: bool = False) -> pd.DataFrame:
    """Amount (normal, nulls), items (integers, ties), wait (skewed), channel and region (categories, nulls).

    ``planted``: 10 channels the contract does not allow and 20 amounts out of its range; ``region=False``
    leaves the region column out and keeps items as integers (as a Spark table would hold them).
    """
    rng = np.random.default_rng(seed)
    amount = rng.normal(120 + (30 if drifted else 0), 60, n)
    amount[rng.random(n) < 0.03] = np.nan
    channel = rng.choice(np.array(["web", "app", "shop"]), n, p=[0.2, 0.3, 0.5] if drifted else [0.5, 0.3, 0.2])
    channel = channel.astype(object)
    channel[rng.random(n) < 0.01] = None
    if planted:
        channel[:10] = "phone"
        amount[10:30] = 900.0
    columns: dict[str, Any] = {
        "amount": amount,
        "items": rng.poisson(3, n).astype("float64" if region else "int64"),
        "wait": rng.lognormal(0, 0.8 if not drifted else 1.2, n),
        "channel": pd.Series(channel, dtype="object"),
    }
    if region:
        regions = rng.choice(np.array([f"r{k}" for k in range(12)]), n).astype(object)
        regions[rng.random(n) < 0.05] = None
        columns["region"] = pd.Series(regions, dtype="object")
    columns["prediction"] = rng.choice([0, 1], n, p=[0.7, 0.3])
    return pd.DataFrame(columns)


def verdicts(drift_result: Any, quality: Any, signals: bool = True) -> dict[str, Any]:
    """What two passes must agree on: drifted columns, PSI, method and distance per column, anomalies, signals."""
    columns = {**drift_result.features, **drift_result.prediction}
    out = {
        "drifted": sorted(drift_result.drifted),
        "psi": {n: round(c.psi, 10) for n, c in columns.items()},
        "method": {n: c.method for n, c in columns.items()},
        "distance": {n: None if c.distance is None else round(c.distance, 10) for n, c in columns.items()},
        "anomalies": quality.anomalies,
    }
    if signals:
        out["signals"] = {k: round(v, 10) if v is not None else None for k, v in quality.signals().items()}
    return out
