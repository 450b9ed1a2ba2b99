"""Point in time on a long history: `status --at`, `which` and a webhook revert, bounded reads vs the whole history.

Run: .venv/bin/python bench/bench_pointintime.py [--events 1000,100000] [--runs 3]

A sqlite registry; the history is written in bulk (tests/bulk_history_support.py: rollout cycles of 10
events, canary 10 % -> 50 % -> rolled back, rows copied the way MLflow writes them) before the model's
real events. "whole history" is what these commands did before (mlgate.registry.timeline.load: read
every event and fold it; a revert did it twice); "bounded" is what they do now (mlgate.registry.window).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from bulk_history_support import CYCLE, CountingSearch, bulk_insert, rollout_cycles
from rollout_support import production_and_candidate, store

from mlgate import api
from mlgate.config.settings import ProtectedAliases
from mlgate.registry import Registry, timeline
from mlgate.team.webhooks import process_delivery
from mlgate.testing import log_tiny_model, throwaway_settings

NAME = "long-history"


def timed(fn: Any, runs: int) -> tuple[float, int]:
    """Median milliseconds of ``runs`` calls, and the history runs the last one read."""
    times, read = [], 0
    for _ in range(runs):
        with CountingSearch(registry_client[0]) as counted:
            began = time.perf_counter()
            fn()
            times.append((time.perf_counter() - began) * 1000)
        read = counted.runs
    return median(times), read


registry_client: list[Any] = []


def revert(registry: Registry, v1: str, v2: str, i: list[int]) -> None:
    registry.client.set_registered_model_alias(NAME, "production", v2)  # a raw move outside mlgate
    i[0] += 1
    stamp = datetime.now().astimezone().isoformat()
    data = {"name": NAME, "alias": "production", "version": v2}
    payload = {"entity": "model_version_alias", "action": "created", "timestamp": stamp, "data": data}
    done = process_delivery(registry, payload, f"bench-{i[0]}", slack=0.1)
    assert done.restored == v1, done.why


def measure(level: int, runs: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-pit-"))
    settings = throwaway_settings(folder, config_dir=folder)
    protected = ProtectedAliases(production="revert", canary="revert")
    registry = Registry.from_settings(settings.with_overrides(protected_aliases=protected))
    registry_client[:] = [registry.client]
    uri = log_tiny_model(settings)
    v1, v2 = production_and_candidate(registry, NAME, uri, folder)
    began = time.perf_counter()
    db = settings.tracking_uri.removeprefix("sqlite:///")
    first, _ = bulk_insert(db, NAME, list(rollout_cycles(NAME, level, v1, v2)))
    copy_s = time.perf_counter() - began
    moment = first + (level - 2 * CYCLE) + 6.5  # the 50 % step of the last bulk cycle
    record = store(registry.settings)
    record.record(NAME, v2, "canary", 200, 4.0, ts=moment, request_id="req-bench")
    record.close()
    whole_ms, whole_read = timed(lambda: timeline.load(registry, NAME).state_at(moment), 1 if level > 10_000 else runs)
    at_ms, at_read = timed(lambda: api.status(NAME, registry=registry, at=moment), runs)
    which_ms, which_read = timed(lambda: api.which(NAME, "req-bench", registry=registry), runs)
    count = [0]
    revert_ms, revert_read = timed(lambda: revert(registry, v1, v2, count), runs)
    return {"events": level, "copy_s": copy_s, "whole_ms": whole_ms, "whole_read": whole_read,
            "at_ms": at_ms, "at_read": at_read, "which_ms": which_ms, "which_read": which_read,
            "revert_ms": revert_ms, "revert_read": revert_read}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default="1000,100000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for level in [int(x) for x in args.events.split(",")]:
        rows.append(measure(level, args.runs))
        print(rows[-1], flush=True)
    print("| events | whole history read + fold (before) | `status --at` | `which` | one webhook revert |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['events']:,} | {r['whole_ms']:,.0f} ms ({r['whole_read']:,} runs) | {r['at_ms']:,.0f} ms "
              f"({r['at_read']} runs) | {r['which_ms']:,.0f} ms ({r['which_read']} runs) | {r['revert_ms']:,.0f} ms "
              f"({r['revert_read']} runs) |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
