"""Benchmark the gateway under a bounded loopback load while the production alias flips between two versions.

Run: .venv/bin/python bench/bench_reliability.py   (about 3 minutes; writes the "reliability" section of RESULTS.md)

The real gateway (uvicorn, in this process) follows a sqlite registry with a short poll interval.
A separate client process sends a fixed number of 1-row requests over C keep-alive connections
(closed loop) while this process moves `production` between v1 and v2 every few seconds. Reported:
requests, 5xx, connection errors, p50/p99 latency, alias moves made and version switches the
clients saw, side by side with the same gateway under the same load with the alias left alone.
tests/test_reliability_gateway.py runs ``churn`` with a small request count.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.loadgen import CLIENT, MS, STATUS, VERSION, LoadProcess  # noqa: E402 - bench is not a package

NAME = "iris"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def churn(
    registry: Any,
    name: str,
    requests: int,
    clients: int = 4,
    switch_every: float = 2.0,
    poll_seconds: float = 0.2,
    versions: tuple[str, str] = ("1", "2"),
) -> dict[str, Any]:
    """Serve ``name`` under a fixed load of ``requests``; flip production between ``versions`` every ``switch_every`` s.

    ``switch_every=0`` leaves the alias alone (the baseline). The alias is set to ``versions[0]``
    first. Returns the figures (requests, status counts, 5xx, connection errors, p50/p99 ms,
    moves made, switches the clients saw, versions seen, seconds) and the raw records.
    """
    from mlgate.serving import running_gateway

    registry.set_alias(name, "production", versions[0])
    per_client = max(1, requests // clients)
    moves = 0
    with running_gateway(registry, name, poll_seconds=poll_seconds, record=False) as url:
        started = time.monotonic()
        load = LoadProcess(url, clients, per_client=per_client)  # its own process, a fixed count, closed loop
        following = versions[0]
        while load.running():
            time.sleep(min(switch_every, 0.2) if switch_every else 0.2)
            if switch_every and time.monotonic() - started >= switch_every * (moves + 1) and load.running():
                following = versions[1] if following == versions[0] else versions[0]
                registry.set_alias(name, "production", following)
                moves += 1
        records = load.stop(timeout=60)
        seconds = time.monotonic() - started
    statuses: dict[int, int] = {}
    for r in records:
        statuses[r[STATUS]] = statuses.get(r[STATUS], 0) + 1
    switches = 0
    for i in range(clients):
        seen = [r[VERSION] for r in records if r[CLIENT] == i and r[STATUS] == 200]
        switches += sum(1 for a, b in itertools.pairwise(seen) if a != b)
    ok_ms = [r[MS] for r in records if r[STATUS] == 200]
    return {
        "requests": len(records),
        "statuses": statuses,
        "server_errors": sum(n for s, n in statuses.items() if s >= 500),
        "connection_errors": statuses.get(0, 0),
        "p50_ms": percentile(ok_ms, 0.50),
        "p99_ms": percentile(ok_ms, 0.99),
        "max_ms": max(ok_ms, default=float("nan")),
        "moves": moves,
        "switches_seen": switches,
        "versions_seen": sorted({str(r[VERSION]) for r in records if r[STATUS] == 200}),
        "seconds": seconds,
        "records": records,
    }


# --- the benchmark ---------------------------------------------------------------------------------
def prepare(folder: Path) -> Any:
    """A fresh registry with two registered versions of the tiny model."""
    os.environ.update({"MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false"})
    sys.path.insert(0, str(ROOT))
    from mlgate.testing import registry_with_versions

    registry = registry_with_versions(folder, NAME, 2)
    return registry


def row(label: str, f: dict[str, Any]) -> str:
    return (
        f"| {label} | {f['requests']} | {f['seconds']:.0f} s | {f['server_errors']} | {f['connection_errors']} | "
        f"{f['p50_ms']:.1f} | {f['p99_ms']:.1f} | {f['max_ms']:.0f} | {f['moves']} | {f['switches_seen']} |"
    )


def main(requests: int = 60_000, baseline: int = 12_000, clients: int = 4, switch_every: float = 2.0) -> None:
    sys.path.insert(0, str(HERE))
    from results import write_section

    with tempfile.TemporaryDirectory() as tmp:
        registry = prepare(Path(tmp))
        steady = churn(registry, NAME, baseline, clients, switch_every=0)
        moving = churn(registry, NAME, requests, clients, switch_every=switch_every)
    ratio = moving["p99_ms"] / steady["p99_ms"] if steady["p99_ms"] else float("nan")
    markdown = f"""## Reliability: the gateway while the production alias moves

`.venv/bin/python bench/bench_reliability.py` — real gateway (uvicorn) on a sqlite registry, poll interval 0.2 s;
a separate client process, {clients} keep-alive connections, a fixed request count, 1-row JSON, loopback;
production flips between v1 and v2 every {switch_every:g} s (a move to a version not in memory
downloads and loads it; the last known good is kept loaded as a standby).
Latencies of answered requests, in ms. 2-core machine shared with other work: compare the rows, not absolutes.

| run | requests | time | 5xx | connection errors | p50 | p99 | max | alias moves | switches seen by clients |
|---|---|---|---|---|---|---|---|---|---|
{row("alias left alone", steady)}
{row(f"alias moves every {switch_every:g} s", moving)}

p99 while moving / p99 steady: **{ratio:.2f}x**. Versions answered while moving: {", ".join(moving["versions_seen"])}.
"""
    write_section("reliability", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
