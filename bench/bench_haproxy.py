"""Benchmark: from a weight change to the split clients observe, through HAProxy's runtime API and the built-in router.

Run: .venv/bin/python bench/bench_haproxy.py   (about 2 minutes; writes the "haproxy" section of RESULTS.md;
BENCH_HAPROXY_CYCLES=1 for a quick check, BENCH_DRY_RUN=1 leaves RESULTS.md alone)

Two pinned gateways (`mlgate serve m --version 1` and `--version 2`, own processes) behind a real
HAProxy 2.6 (roundrobin, one server per pool); beside them, what a user would use instead: one
gateway following the registry (`mlgate serve m`, poll_interval_seconds 1, the default). Client
threads post 1-row requests back to back over keep-alive connections all along. Each cycle moves
v2 from 0 % to 50 %, to 100 %, then back to 0 %, through ``HAProxyRouter`` (set weight, then read
back with show servers state) or ``RegistryRouter`` (the alias and weight tag the gateway polls).
Per move: the call's time, and the time from the call to the first answer showing the new split
(first v2 answer at 0 -> 50, last v1 answer at 50 -> 100, last v2 answer at 100 -> 0); failed
requests counted over every move. Medians of the cycles.
"""

from __future__ import annotations

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
from bench.loadgen import STATUS, VERSION, Background, answered, failed  # noqa: E402 - bench is not a package
from bench.results import median, write_section  # noqa: E402

NAME = "m"
CYCLES = int(os.environ.get("BENCH_HAPROXY_CYCLES", "7"))
CLIENTS = 2
SETTLE = 1.5  # seconds each split holds before the next move (the built-in router's gateway polls every 1 s)
MOVES = ("0 -> 50 %", "50 -> 100 %", "100 -> 0 %")


def setup(folder: Path) -> tuple[Any, dict[str, str]]:
    """A sqlite registry with v1 (production) and v2 of the tiny model; the gateways' environment."""
    import yaml

    from mlgate import api
    from mlgate.registry import Registry
    from mlgate.testing import QUIET_ENV, log_tiny_model, throwaway_settings, write_card

    os.environ.update(QUIET_ENV)
    settings = throwaway_settings(folder / "store", config_dir=folder)
    registry = Registry.from_settings(settings)
    uri = log_tiny_model(settings)
    for _ in range(2):
        api.register(NAME, uri, write_card(folder / "card.yaml"), registry=registry)
    registry.set_alias(NAME, "production", "1")
    (folder / "mlgate.yaml").write_text(
        yaml.safe_dump({"tracking_uri": settings.tracking_uri, "artifact_root": settings.artifact_root})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLGATE_"))}
    env.update(QUIET_ENV, MLGATE_CONFIG_DIR=str(folder), PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    return registry, env


def first_after(stamps: list[tuple[float, str | None]], t0: float, version: str) -> float | None:
    """Seconds from ``t0`` to the first answer by ``version`` after it."""
    return next((t - t0 for t, v in stamps if t >= t0 and v == version), None)


def last_after(stamps: list[tuple[float, str | None]], t0: float, t1: float, version: str) -> float | None:
    """Seconds from ``t0`` to the last answer by ``version`` before ``t1`` (0 if none came after ``t0``)."""
    times = [t - t0 for t, v in stamps if t0 <= t < t1 and v == version]
    return times[-1] if times else 0.0


def cycle(router: Any) -> list[tuple[str, float, float]]:
    """One 0 -> 50 -> 100 -> 0 cycle of v2: per move, the wall clock when its call began and ended."""
    marks = []
    for move in MOVES:
        t0 = time.time()
        if move == "0 -> 50 %":
            router.set_canary("2", 50)
        elif move == "50 -> 100 %":
            router.set_canary("2", 100)
        else:
            router.clear_canary()
        marks.append((move, t0, time.time()))
        time.sleep(SETTLE)
    return marks


def observed(marks: list[tuple[str, float, float]], end: float, stamps: list[tuple[float, str | None]]) -> Any:
    """Per move of one cycle, its call time and its time to the observed split (ms)."""
    out: dict[str, list[float]] = {}
    for i, (move, t0, t1) in enumerate(marks):
        following = marks[i + 1][1] if i + 1 < len(marks) else end
        if move == "0 -> 50 %":
            seen = first_after(stamps, t0, "2")
        elif move == "50 -> 100 %":
            seen = last_after(stamps, t0, following, "1")
        else:
            seen = last_after(stamps, t0, following, "2")
        out[move] = [(t1 - t0) * 1000, (seen if seen is not None else float("nan")) * 1000]
    return out


def run(router: Any, url: str) -> tuple[dict[str, list[list[float]]], int, int]:
    """CYCLES cycles under CLIENTS closed-loop clients; per move the figures of each cycle, requests, failed."""
    load = Background(url, CLIENTS).start()
    time.sleep(1.0)
    cycles = []
    try:
        for _ in range(CYCLES):
            cycles.append((cycle(router), time.time()))
    finally:
        records = load.stop()
    stamps = sorted((answered(r), r[VERSION] if r[STATUS] == 200 else None) for r in records)
    results: dict[str, list[list[float]]] = {m: [] for m in MOVES}
    for marks, end in cycles:
        for move, figures in observed(marks, end, stamps).items():
            results[move].append(figures)
    return results, len(records), failed(records)


def main() -> int:
    from mlgate.testing.haproxy import HAProxy, PinnedGateway, find_haproxy
    from mlgate.traffic import RegistryRouter
    from mlgate.traffic.haproxy import HAProxyRouter
    from mlgate.traffic.haproxy_api import RuntimeAPI
    from mlgate.traffic.router import TrafficState

    binary = find_haproxy()
    if binary is None:
        print("bench_haproxy: haproxy not found (apt-get install haproxy); skipped")
        return 0
    folder = Path(tempfile.mkdtemp(prefix="mlgate-bench-hx-"))
    registry, env = setup(folder)
    pinned = {v: PinnedGateway(NAME, v, env, folder / f"v{v}.log").start() for v in ("1", "2")}
    following = PinnedGateway(NAME, None, env, folder / "following.log").start()  # follows the registry
    haproxy = None
    try:
        for gateway in [*pinned.values(), following]:
            gateway.wait()
        pools = {v: [f"127.0.0.1:{g.port}"] for v, g in pinned.items()}
        haproxy = HAProxy(f"mlgate_{NAME}", pools, production="1", binary=binary).start()
        through = HAProxyRouter(RuntimeAPI(haproxy.socket), f"mlgate_{NAME}", labels=lambda: TrafficState("1"))
        rows = {}
        rows["haproxy"] = run(through, haproxy.url)
        rows["registry"] = run(RegistryRouter(registry, NAME), following.url)
    finally:
        if haproxy is not None:
            haproxy.stop()
        for gateway in [*pinned.values(), following]:
            gateway.stop()
    report(rows)
    return 0


def report(rows: dict[str, tuple[dict[str, list[list[float]]], int, int]]) -> None:
    names = {
        "haproxy": "HAProxy runtime API (`traffic_router: haproxy`, pinned pools)",
        "registry": "built-in: registry alias + weight tag, gateway polls every 1 s",
    }
    lines = [
        "## Traffic through HAProxy: from a weight change to the split clients see "
        "(`.venv/bin/python bench/bench_haproxy.py`)",
        "",
        f"Real HAProxy {haproxy_version()} (roundrobin) in front of two pinned gateways (`mlgate serve m --version V`, "
        "own processes), against the built-in router (one gateway following the registry, poll 1 s). "
        f"{CLIENTS} client threads post 1-row requests back to back over keep-alive connections all along; "
        f"{CYCLES} cycles of v2 0 → 50 → 100 → 0 %, medians (worst in brackets). 'Observed' is the time from "
        "the call to the first v2 answer (0 → 50), the last v1 answer (50 → 100) or the last v2 answer (100 → 0). "
        f"2-core machine shared with other work (load average {os.getloadavg()[0]:.0f} at the end of the run: the "
        "request rate, which bounds how soon a client can see a new split, is the machine's).",
        "",
        "| router | move | call (set + read back) | observed split | requests | failed while weights move |",
        "|---|---|---|---|---|---|",
    ]
    for key, (results, sent, lost) in rows.items():
        for move in MOVES:
            calls = [r[0] for r in results[move]]
            seen = [r[1] for r in results[move]]
            lines.append(
                f"| {names[key]} | {move} | {median(calls):.1f} ms | {median(seen):.1f} ms ({max(seen):.0f}) "
                f"| {sent} | {lost} |"
            )
    hx = median([r[1] for m in MOVES for r in rows["haproxy"][0][m]])
    reg = median([r[1] for m in MOVES for r in rows["registry"][0][m]])
    lines += [
        "",
        f"Median time to the observed split over all moves: HAProxy **{hx:.1f} ms**, built-in router {reg:.0f} ms "
        f"({reg / max(hx, 0.001):.0f}x). Failed requests while weights moved: HAProxy {rows['haproxy'][2]} of "
        f"{rows['haproxy'][1]}, built-in {rows['registry'][2]} of {rows['registry'][1]} (goal 0). HAProxy applies a "
        "new weight to the next request it balances, so the split clients see changes as soon as the call returns; "
        "the built-in router's gateways see it at their next poll of the registry.",
    ]
    text = "\n".join(lines)
    print(text)
    write_section("haproxy", text)


def haproxy_version() -> str:
    import subprocess

    from mlgate.testing.haproxy import find_haproxy

    out = subprocess.run([find_haproxy() or "haproxy", "-v"], capture_output=True, text=True).stdout
    return out.split()[2] if len(out.split()) > 2 else "2.6"


if __name__ == "__main__":
    sys.exit(main())
