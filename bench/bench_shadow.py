"""Benchmark: production latency with a shadow version mirrored 100 % of production requests, against no shadow.

Run: .venv/bin/python bench/bench_shadow.py   (about 3 minutes; writes the "shadow" section of RESULTS.md)

The real gateway (uvicorn, in this process) serves v1 of the tiny iris model and records every
request. Rounds alternate: shadow off (no `shadow` alias), shadow on (`shadow` alias on v2, share
100 %: every production request is handed to the shadow's worker process after it is answered).
In each round a separate client process sends 1-row requests over keep-alive connections, first at
a steady rate (the usual production case), then back to back (closed loop, the machine saturated).
Figures are medians over rounds; the on/off ratios are medians of each round's ratio (the two runs of a
round are seconds apart, so they share the machine's background load). Goal: p99 on <= 1.1x off.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.loadgen import MS, STATUS, LoadProcess, failed  # noqa: E402 - the bench folder is not a package on its own
from bench.results import median, write_section  # noqa: E402

NAME = "iris"
ROUNDS = int(os.environ.get("BENCH_SHADOW_ROUNDS", "9"))  # each round: one off run and one on run
STEADY = (2, 150.0, 8.0)  # clients, requests/s per client, seconds
SATURATED = (4, 0.0, 4.0)  # clients back to back, seconds


def run_load(url: str, clients: int, rate: float, seconds: float) -> dict[str, float]:
    """``clients`` keep-alive connections from a separate process for ``seconds``, each at ``rate`` requests/s on a
    fixed schedule (0: back to back); requests a second, latency percentiles (ms) and failed requests."""
    records = LoadProcess(url, clients, rate, seconds=seconds, catch_up=True).stop(timeout=seconds + 120)
    ok = sorted(r[MS] for r in records if r[STATUS] == 200)
    return {
        "rps": len(ok) / seconds,
        "p50": ok[len(ok) // 2],
        "p95": ok[min(len(ok) - 1, int(len(ok) * 0.95))],
        "p99": ok[min(len(ok) - 1, int(len(ok) * 0.99))],
        "failed": float(failed(records)),
    }


# --- the benchmark ---------------------------------------------------------------------------------
def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/health", timeout=10) as answer:
        return dict(json.loads(answer.read()))


def wait_until(check: Any, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("the gateway did not follow the shadow alias in time")
        time.sleep(0.1)


def main() -> None:
    os.environ.update({"MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false"})
    from mlgate.heap import settle
    from mlgate.serving import running_gateway
    from mlgate.testing import registry_with_versions
    from mlgate.traffic import RegistryRouter

    figures: dict[str, dict[str, list[float]]] = {}
    mirrored = dropped = 0
    with tempfile.TemporaryDirectory() as tmp:
        registry = registry_with_versions(Path(tmp), NAME, 2)
        registry.set_alias(NAME, "production", "1")
        router = RegistryRouter(registry, NAME)
        with running_gateway(registry, NAME, poll_seconds=0.2) as url:
            gateway = url.gateway
            run_load(url, 2, 0.0, 2.0)  # warm up
            settle()  # what `mlgate serve` does once its models are loaded: the heap so far is frozen
            for round_ in range(ROUNDS):
                for mode in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                    if mode == "on":
                        router.set_shadow("2", 100)
                        wait_until(lambda: (health(url)["shadow"] or {}).get("worker") == "ready")
                    else:
                        router.clear_shadow()
                        wait_until(lambda: health(url)["shadow"] is None)
                    assert gateway.recorder is not None
                    gateway.recorder.flush(60)
                    before = (gateway.shadow.mirrored, gateway.shadow.dropped) if gateway.shadow else (0, 0)
                    for label, (clients, rate, seconds) in (("steady", STEADY), ("saturated", SATURATED)):
                        result = run_load(url, clients, rate, seconds)
                        for key, value in result.items():
                            figures.setdefault(f"{label}-{mode}", {}).setdefault(key, []).append(value)
                    if mode == "on" and gateway.shadow is not None:
                        gateway.shadow.flush(60)
                        mirrored += gateway.shadow.mirrored - before[0]
                        dropped += gateway.shadow.dropped - before[1]
                    print(f"round {round_ + 1} shadow {mode}: done", flush=True)
    med = {k: {m: median(v) for m, v in f.items()} for k, f in figures.items()}
    rows = []
    ratios = {}
    spread = {}
    for label, (clients, rate, seconds) in (("steady", STEADY), ("saturated", SATURATED)):
        off, on = med[f"{label}-off"], med[f"{label}-on"]
        pairs = zip(figures[f"{label}-on"]["p99"], figures[f"{label}-off"]["p99"], strict=True)
        each = [a / b for a, b in pairs]
        ratios[label], spread[label] = median(each), f"{min(each):.2f}-{max(each):.2f}"
        load_text = f"{clients} x {rate:g}/s" if rate else f"{clients} back to back"
        for mode, f in (("off", off), ("on (100 %)", on)):
            rows.append(
                f"| {label} ({load_text}, {seconds:g} s) | {mode} | {f['rps']:.0f} | {f['p50']:.2f} | "
                f"{f['p95']:.2f} | {f['p99']:.2f} | {f['failed']:.0f} |"
            )
    table = "\n".join(rows)
    markdown = f"""## Shadow: production latency while every request is mirrored

`.venv/bin/python bench/bench_shadow.py` — real gateway (uvicorn, in-process, heap frozen as `mlgate serve`
does) on a sqlite registry, recording every request; v1 production; "on": alias `shadow` on v2 with share
100 %, so every production request is handed, after its answer, to the shadow's worker process (gathered
and written to it every few milliseconds; lowest CPU priority; bounded queue, drops counted), which answers
and records it. A separate client process, keep-alive connections, 1-row JSON,
loopback; {ROUNDS} rounds alternating off/on, medians;
each ratio is the median of the rounds' on/off ratios. 2-core machine shared with other work (its tail is
mostly other processes' scheduling): compare the rows, not absolutes.

| load | shadow | requests/s | p50 ms | p95 ms | p99 ms | failed |
|---|---|---|---|---|---|---|
{table}

Production p99 with the shadow on / off: **{ratios["steady"]:.2f}x** at a steady rate (goal <= 1.1x; the
rounds' ratios ranged {spread["steady"]}), {ratios["saturated"]:.2f}x with the machine saturated
({spread["saturated"]}). Mirrored requests: {mirrored}, of which dropped
(the shadow's queue full): {dropped}.
"""
    write_section("shadow", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
