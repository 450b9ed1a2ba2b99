"""Benchmark the post-promotion watch: from its breach decision to the last known good answering at a gateway.

Run: .venv/bin/python bench/bench_watch.py   (about 8 minutes; writes the "watch" section of RESULTS.md;
BENCH_WATCH_RUNS=1 BENCH_WATCH_SERIES=2 for a quick check, BENCH_DRY_RUN=1 leaves RESULTS.md alone)

The real gateway (uvicorn, in this process) follows a sqlite registry and writes the real prediction
record. A separate client process sends 1-row requests over keep-alive connections (paced, or a closed
loop that saturates the machine), stamping each answer with the wall clock and the version that answered.
Each run: v1 answers a few seconds (the baseline in the record), v2 is promoted, and `mlgate watch` (its
own process, as beside `mlgate serve`) judges v2 against v1 on the record; v2 answers another class for
the same input, so its prediction PSI breaches and the watch rolls back to v1 through `mlgate rollback`
(checklist, lock, events, switch, smoke test). Reported from the breach decision: the first answer by v1,
the last answer by v2, failed requests; side by side with a bare alias switch
(`MlflowClient.set_registered_model_alias`, no checklist) from another process at the same point, at two
gateway poll intervals (1 s, the default, and 0.2 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.loadgen import STATUS, VERSION, LoadProcess, answered  # noqa: E402 - bench is not a package

NAME = "iris"
RUNS = int(os.environ.get("BENCH_WATCH_RUNS", "5"))
CLIENTS = 4
BASELINE_SECONDS = 3.0  # v1 answers this long before each promote: the watch's baseline
RATE = 50.0  # requests a second per client (200 in all): a busy gateway that still has CPU to spare
# (gateway poll s, who moves traffic back, requests a second per client; 0 = closed loop, the machine saturated)
PLAN = [(1.0, "watch", RATE), (1.0, "bare", RATE), (0.2, "watch", RATE), (0.2, "bare", RATE), (1.0, "watch", 0.0)]
PLAN = PLAN[: int(os.environ.get("BENCH_WATCH_SERIES", len(PLAN)))]  # fewer rows for a quick check


# --- the benchmark ---------------------------------------------------------------------------------
def prepare(folder: Path) -> tuple[Any, str, str]:
    """A registry with v1 (a classifier, in production) and v2 (answers another class for the same input)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from mlgate import api
    from mlgate.gate import policy_hash
    from mlgate.registry import Registry, keys, utcnow
    from mlgate.testing import log_tiny_model, throwaway_settings, tiny_training_data, write_card

    config = folder / "mlflow_config"
    config.mkdir(parents=True)
    (config / "rollout.yaml").write_text("bake: 2s\nmin_requests: 20\nwatch: 1m\n")
    settings = throwaway_settings(folder / "store", config_dir=config)
    (config / "mlgate.yaml").write_text(
        f"tracking_uri: {settings.tracking_uri}\nartifact_root: {settings.artifact_root}\n"
    )
    registry = Registry.from_settings(settings)
    x, y = tiny_training_data()
    card = write_card(folder / "card.yaml")
    versions = []
    for labels in (y, (np.asarray(y) + 2) % 3):  # v2: the same family, every class shifted
        uri = log_tiny_model(settings, model=LogisticRegression(max_iter=200).fit(x, labels))
        versions.append(api.register(NAME, uri, card, registry=registry).version)
    for v in versions:
        registry.set_version_tag(NAME, v, keys.gate_tag("production"), "passed")
        registry.set_version_tag(NAME, v, keys.gate_policy_hash_tag("production"), policy_hash(settings, NAME))
        registry.set_version_tag(NAME, v, keys.gate_time_tag("production"), utcnow())
    api.promote(NAME, versions[0], "production", registry=registry)
    return registry, versions[0], versions[1]


def _in_a_process(registry: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python bench_watch.py ARGS`` with mlgate configured for ``registry`` (as `mlgate watch` would run)."""
    env = {**os.environ, "MLGATE_CONFIG_DIR": str(registry.settings.config_dir)}
    return subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], env=env, capture_output=True, text=True, timeout=120
    )


def one_run(registry: Any, url: str, good: str, bad: str, how: str, rate: float) -> dict[str, Any]:
    """v1 answers, v2 is promoted, then the watch (or a bare alias switch) sends traffic back to v1.

    Both run in their own process, as `mlgate watch` does beside `mlgate serve`.
    """
    from mlgate import api

    load = LoadProcess(url, CLIENTS, rate, until_stopped=True)  # its own process, until stopped
    try:
        time.sleep(BASELINE_SECONDS)
        api.promote(NAME, bad, "production", force=True, reason="bench: a bad release", registry=registry)
        if how == "watch":
            done = _in_a_process(registry, "--watch")
            state = json.loads(done.stdout or "{}").get("watch") or {}
            if state.get("status") != "rolled-back" or state.get("breach_at") is None:
                raise RuntimeError(f"the watch did not roll back: {done.stdout[-3000:]}{done.stderr[-3000:]}")
            decided, rollback_s = state["breach_at"], state["ended_at"] - state["breach_at"]
        else:  # as long as the watch takes to decide, then the alias alone
            time.sleep(2.0)
            done = _in_a_process(registry, "--switch", good)
            decided, rollback_s = (float(v) for v in done.stdout.split())
        time.sleep(3.0)  # every gateway poll has seen it
    finally:
        records = load.stop()
    after = [r for r in records if answered(r) >= decided]  # answers that came after the decision
    first_good = min((answered(r) for r in after if r[STATUS] == 200 and r[VERSION] == good), default=float("nan"))
    last_bad = max((answered(r) for r in after if r[STATUS] == 200 and r[VERSION] == bad), default=decided)
    return {
        "first_good_s": first_good - decided,
        "last_bad_s": last_bad - decided,
        "failed_after": sum(1 for r in after if r[STATUS] != 200),
        "failed_total": sum(1 for r in records if r[STATUS] != 200),
        "requests": len(records),
        "rollback_s": rollback_s,
    }


def watch_here() -> None:
    """`mlgate watch NAME --poll 0.2 --json` (exit 1 after a breach, as expected here)."""
    from mlgate.cli import main as cli

    cli.main(["watch", NAME, "--poll", "0.2", "--json"], standalone_mode=False)


def switch_here(version: str) -> None:
    """The bare alternative: move the production alias, nothing else; prints when and how long."""
    from mlgate.config import load_settings
    from mlgate.registry import Registry

    client = Registry.from_settings(load_settings()).client
    start = time.time()
    client.set_registered_model_alias(NAME, "production", version)
    print(start, time.time() - start)


def series(poll: float, how: str, rate: float, folder: Path) -> dict[str, Any]:
    from bench.results import median
    from mlgate.serving import running_gateway

    registry, good, bad = prepare(folder)
    runs = []
    with running_gateway(registry, NAME, poll_seconds=poll) as url:
        for _ in range(RUNS):
            runs.append(one_run(registry, url, good, bad, how, rate))
    return {
        "poll": poll,
        "how": how,
        "rate": rate,
        **{key: median([r[key] for r in runs]) for key in ("first_good_s", "last_bad_s", "rollback_s")},
        "worst_last_bad_s": max(r["last_bad_s"] for r in runs),
        "failed_after": sum(r["failed_after"] for r in runs),
        "failed_total": sum(r["failed_total"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
    }


def main() -> int:
    from bench.results import write_section

    rows = []
    for poll, how, rate in PLAN:
        with tempfile.TemporaryDirectory(prefix="mlgate-bench-watch-") as tmp:
            rows.append(series(poll, how, rate, Path(tmp)))
    label = {
        "watch": "watch breach → `mlgate rollback` (checklist, lock, events, switch, smoke test)",
        "bare": "bare `set_registered_model_alias` at the same point (no checklist, no record)",
    }
    lines = [
        "## Post-promotion watch: from the breach decision to the last known good answering "
        "(`.venv/bin/python bench/bench_watch.py`)",
        "",
        f"Real gateway (uvicorn) following a sqlite registry, {CLIENTS} keep-alive clients in a separate process "
        f"(1-row JSON, loopback; paced at {CLIENTS * RATE:g} requests a second in all, or a closed loop as fast as "
        "answers come, which saturates the machine), "
        f"{RUNS} runs per row, medians (worst of the runs in brackets). Each run: "
        f"v1 answers {BASELINE_SECONDS:g} s, v2 (another class for the same input) is promoted, the watch (poll 0.2 s, "
        "bake 2 s, min_requests 20) judges it on the gateway's prediction record, breaches on prediction PSI and "
        "rolls back, from its own process (`mlgate watch`, as beside `mlgate serve`). "
        "Goal: last known good answering ≤ 1 s after the decision, 0 failed requests. "
        "2-core machine shared with other work.",
        "",
        "| load | gateway poll | from the breach decision | first v1 answer | last v2 answer | rollback call | "
        "failed requests after the decision / in all runs | requests |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        load = f"{CLIENTS * r['rate']:g}/s" if r["rate"] else "closed loop"
        lines.append(
            f"| {load} | {r['poll']:g} s | {label[r['how']]} | {r['first_good_s'] * 1000:.0f} ms | "
            f"{r['last_bad_s'] * 1000:.0f} ms ({r['worst_last_bad_s'] * 1000:.0f}) | {r['rollback_s'] * 1000:.0f} ms | "
            f"{r['failed_after']} / {r['failed_total']} | {r['requests']} |"
        )
    lines += [
        "",
        "The last v2 answer is when every client was on the last known good; the rollback call goes on after the "
        "switch (smoke test, last known good, events), while v1 already answers. A gateway sees the switch at its "
        "next poll of the registry, so the poll interval bounds the time: `poll_interval_seconds` in mlgate.yaml.",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    write_section("watch", markdown)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--watch":
        watch_here()
    elif len(sys.argv) > 2 and sys.argv[1] == "--switch":
        switch_here(sys.argv[2])
    else:
        sys.exit(main())
