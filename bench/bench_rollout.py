"""Benchmark: what the rollback checklist and a canary decision cost, next to what a user would do instead.

1. Rollback on a registry with 20 versions: answering the checklist (`mlgate rollback --dry-run`), and the
   whole `mlgate rollback` (lock, events, alias switch, in-process smoke test, last known good), next to the
   bare alternative: `MlflowClient.set_registered_model_alias(name, "production", v)`.
2. One canary decision on a window of the gateway's record (20,000 requests per route): reading the window
   and judging it (error rate, p99, PSI), next to a PSI written the usual way (pandas `cut` + `value_counts`).

Run: `.venv/bin/python bench/bench_rollout.py` (writes its section of bench/RESULTS.md).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd

from bench.results import median, write_section

RUNS = 5


def timed(fn: Callable[[], object], runs: int = RUNS) -> float:
    values = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        values.append(time.perf_counter() - start)
    return median(values)


def naive_psi(expected: pd.Series, actual: pd.Series, bins: int = 10) -> float:
    """PSI as it is usually written: quantile edges, pandas cut, value_counts."""
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    e = pd.cut(expected, edges).value_counts(normalize=True, sort=False).clip(lower=1e-4)
    a = pd.cut(actual, edges).value_counts(normalize=True, sort=False).clip(lower=1e-4)
    return float(((a - e) * np.log(a / e)).sum())


def bench_rollback(folder: Path) -> list[tuple[str, float]]:
    from mlgate import api
    from mlgate.gate import policy_hash
    from mlgate.registry import Registry, keys, utcnow
    from mlgate.testing import log_tiny_model, throwaway_settings, write_card

    settings = throwaway_settings(folder / "store", config_dir=folder)
    registry = Registry.from_settings(settings)
    uri = log_tiny_model(settings)
    card = write_card(folder / "card.yaml", data_migrations=[{"name": "add-col", "reversible": True}])
    versions = [api.register("m", uri, card, registry=registry).version for _ in range(20)]
    for v in versions:
        for key, value in (
            (keys.gate_tag("production"), "passed"),
            (keys.gate_policy_hash_tag("production"), policy_hash(settings, "m")),
            (keys.gate_time_tag("production"), utcnow()),
        ):
            registry.set_version_tag("m", v, key, value)
    api.promote("m", versions[0], "production", registry=registry)

    def release_then_rollback() -> None:
        api.promote("m", versions[1], "production", registry=registry)
        start = time.perf_counter()
        api.rollback("m", to=versions[0], force=True, registry=registry)
        full.append(time.perf_counter() - start)
        registry.delete_version_tag("m", versions[1], keys.ROLLED_BACK_REASON)

    api.promote("m", versions[1], "production", registry=registry)
    dry = timed(lambda: api.rollback("m", dry_run=True, registry=registry))
    bare = timed(lambda: registry.client.set_registered_model_alias("m", "production", versions[1]))
    full: list[float] = []
    for _ in range(RUNS):
        release_then_rollback()
    return [
        ("`MlflowClient.set_registered_model_alias` (the bare alternative)", bare),
        ("`mlgate rollback --dry-run` (the checklist answered)", dry),
        ("`mlgate rollback` (checklist, lock, events, switch, smoke test, last known good)", median(full)),
    ]


def bench_decision(folder: Path) -> tuple[list[tuple[str, float]], float, float]:
    from mlgate.release.rollout.analysis import analyze
    from mlgate.release.rollout.policy import RolloutPolicy
    from mlgate.serving.record import PredictionStore, Served
    from mlgate.stats.drift import sample_psi as psi

    rng = np.random.default_rng(0)
    store = PredictionStore(f"sqlite:///{folder / 'predictions.db'}")
    now = time.time()
    n = 20_000
    items = []
    for route, version, shift in (("production", "1", 0.0), ("canary", "2", 0.3)):
        preds = rng.normal(shift, 1, n)
        latency = rng.gamma(2, 3, n)
        one_row = pd.DataFrame({"x": [1.0]})
        items += [
            Served(
                now - 600 + 600 * i / n,
                "m",
                version,
                route,
                f"{route}{i}",
                None,
                200,
                float(latency[i]),
                one_row,
                [preds[i]],
            )
            for i in range(n)
        ]
    store.record_many(items)
    since, until = datetime.fromtimestamp(now - 601, UTC), datetime.fromtimestamp(now + 1, UTC)
    policy = RolloutPolicy(min_requests=100)
    frame = store.window("m", since=since, until=until, inputs=False)
    read = timed(lambda: store.window("m", since=since, until=until, inputs=False))
    read_all = timed(lambda: store.window("m", since=since, until=until))
    judge = timed(lambda: analyze(frame, policy, "m", since, until))
    prod = frame.loc[frame["route"] == "production", "prediction"].astype(float)
    can = frame.loc[frame["route"] == "canary", "prediction"].astype(float)
    ours = timed(lambda: psi(prod, can), runs=9)
    usual = timed(lambda: naive_psi(prod, can), runs=9)
    return (
        [
            ("read the window (40,000 requests) from the record, as canary analysis does (no inputs)", read),
            ("the same window with every row's input features decoded (monitoring's read)", read_all),
            ("judge it (error rate, p99, PSI)", judge),
        ],
        ours / usual,
        psi(prod, can) - naive_psi(prod, can),
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-rollout-") as tmp:
        folder = Path(tmp)
        rollback_rows = bench_rollback(folder)
        decision_rows, psi_ratio, psi_diff = bench_decision(folder)
    bare = rollback_rows[0][1]
    lines = [
        "## Canary rollout and rollback (`.venv/bin/python bench/bench_rollout.py`)",
        "",
        f"Rollback on a sqlite registry with 20 versions; medians of {RUNS} runs (machine: 2 shared cores).",
        "",
        "| operation | median | vs bare alias switch |",
        "|---|---|---|",
        *[f"| {name} | {seconds * 1000:.0f} ms | {seconds / bare:.1f}x |" for name, seconds in rollback_rows],
        "",
        "One canary decision (20,000 requests per route, predictions shifted by 0.3 sd):",
        "",
        "| step | median |",
        "|---|---|",
        *[f"| {name} | {seconds * 1000:.0f} ms |" for name, seconds in decision_rows],
        "",
        f"mlgate's PSI against the usual pandas `cut` + `value_counts` version on the same two columns: "
        f"{psi_ratio:.2f}x the time, same value (difference {abs(psi_diff):.1e}).",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    write_section("rollout", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
