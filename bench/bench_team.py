"""Team setup figures: operation latency on an MLflow server over PostgreSQL vs the embedded sqlite store,
time to recover from a killed server, and six processes racing on one model.

Run: .venv/bin/python bench/bench_team.py   (needs PostgreSQL's server binaries: apt-get install postgresql)
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]
os.environ.update({"MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"})

from backends import (  # noqa: E402
    VENV_BIN,
    MlflowServer,
    Postgres,
    _server_env,
    clean_env,
    find_pg_bindir,
    server_settings,
)
from results import median, write_section  # noqa: E402

from mlgate import api  # noqa: E402
from mlgate.registry import Registry  # noqa: E402
from mlgate.testing import log_tiny_model, throwaway_settings, write_card  # noqa: E402

RUNS = 5


def _timed(fn: object, *args: object, **kwargs: object) -> float:
    began = time.perf_counter()
    fn(*args, **kwargs)  # type: ignore[operator]
    return (time.perf_counter() - began) * 1000


def latencies(registry: Registry, model_uri: str, card: Path, name: str) -> dict[str, float]:
    """Median ms of a staging promotion, a production promotion (with smoke test) and a rollback."""
    for _ in range(3):
        api.register(name, model_uri, card, registry=registry)
    api.promote(name, "1", "production", force=True, reason="bench", registry=registry)
    staging, production, rollback = [], [], []
    for i in range(RUNS):
        staging.append(_timed(api.promote, name, str(2 + i % 2), "staging", force=True, reason="b", registry=registry))
    for _ in range(RUNS):
        production.append(_timed(api.promote, name, "2", "production", force=True, reason="b", registry=registry))
        rollback.append(_timed(api.rollback, name, to="1", force=True, reason="bench", registry=registry))
    reads = [_timed(api.status, name, registry=registry) for _ in range(RUNS)]
    return {
        "promote to staging": median(staging),
        "promote to production (smoke-tested)": median(production),
        "rollback (smoke-tested)": median(rollback),
        "status": median(reads),
    }


def recovery(server: MlflowServer, registry: Registry, name: str, cwd: Path) -> tuple[float, float]:
    """Kill the server mid-promotion; (seconds to restart it, seconds for the re-run command to finish)."""
    env = clean_env(MLFLOW_TRACKING_URI=server.url, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLGATE_LOCK_TTL_SECONDS="3")
    cmd = [str(VENV_BIN / "mlgate"), "promote", name, "3", "--to", "production", "--force", "--reason", "kill"]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while True:
        events = registry.events(name)
        if events and events[0].action == "promote-production" and events[0].result == "started":
            break
        if proc.poll() is not None:
            raise RuntimeError(f"the promotion ended before the kill: {proc.communicate()}")
        time.sleep(0.05)
    server.kill()
    proc.communicate(timeout=60)
    restart = server.start()
    time.sleep(3.1)  # lock ttl
    began = time.perf_counter()
    again = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    return restart, time.perf_counter() - began


def race(server: MlflowServer, name: str, cwd: Path) -> dict[str, float]:
    """Six processes at once (three promotions, three rollbacks): wall time and outcomes."""
    script = ROOT / "tests" / "test_reliability.py"
    worker = script.read_text().split('WORKER = r"""', 1)[1].split('"""', 1)[0]
    path = cwd / "worker.py"
    path.write_text(worker)
    env = clean_env(MLFLOW_TRACKING_URI=server.url, MLGATE_LOCK_WAIT_SECONDS="60")
    began = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, str(path), name, str(i)], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
        for i in range(6)
    ]
    outcomes = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs]
    return {
        "wall_s": time.perf_counter() - began,
        "completed": sum(o["ok"] for o in outcomes),
        "failed_cleanly": sum(not o["ok"] for o in outcomes),
    }


def main() -> int:
    bindir = find_pg_bindir()
    if bindir is None:
        print("skipped: PostgreSQL server binaries not found (apt-get install postgresql)")
        return 0
    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-team-"))
    card = write_card(work / "card.yaml")
    pg = Postgres(bindir)
    pg.start()
    server = MlflowServer(pg.create_database("bench"), work / "artifacts", work / "server.log", _server_env(pg))
    try:
        start_s = server.start()
        local = throwaway_settings(work / "sqlite")
        local_uri = log_tiny_model(local)
        remote = server_settings(server.url, work / "cfg", lock_ttl_seconds=3.0)
        remote_uri = log_tiny_model(remote)
        sqlite_ms = latencies(Registry.from_settings(local), local_uri, card, "bench")
        server_registry = Registry.from_settings(remote)
        server_ms = latencies(server_registry, remote_uri, card, "bench")
        restart_s, rerun_s = recovery(server, server_registry, "bench", work)
        raced = race(server, "bench", work)
    finally:
        server.stop()
        pg.stop()
    rows = "\n".join(
        f"| {op} | {sqlite_ms[op]:.0f} | {server_ms[op]:.0f} | {server_ms[op] / sqlite_ms[op]:.1f}x |"
        for op in sqlite_ms
    )
    load = os.getloadavg()[0]
    write_section(
        "team",
        f"""## Team setup: MLflow server on PostgreSQL vs the embedded sqlite store

`.venv/bin/python bench/bench_team.py` — {platform.machine()}, {os.cpu_count()} cores, load average
{load:.1f} when it ended (the figures move with it); PostgreSQL 15 (fsync off, throwaway), `mlflow server`
with one worker, proxied artifacts; tiny iris model. Medians of {RUNS} runs, milliseconds.

| operation | sqlite file | server on PostgreSQL | server / sqlite |
|---|---|---|---|
{rows}

Every mlgate call over the server is a handful of REST round trips (read aliases back, one tag per
event, the lock model); the smoke test downloads the model through the artifact proxy.

| recovery | seconds |
|---|---|
| `mlflow server` cold start to /health | {start_s:.1f} |
| restart after SIGKILL mid-promotion | {restart_s:.1f} |
| same `mlgate promote` re-run, new process (imports included; finishes the op) | {rerun_s:.1f} |
| six processes at once (3 promote, 3 rollback, smoke-tested, serialised): wall | {raced["wall_s"]:.1f} |

Race outcome: {raced["completed"]:.0f} completed, {raced["failed_cleanly"]:.0f} failed cleanly
(LockHeld / no rollback target), registry consistent (checked by tests/test_reliability.py).
""",
    )
    print(f"sqlite {sqlite_ms}\nserver {server_ms}\nrestart {restart_s:.1f}s rerun {rerun_s:.1f}s race {raced}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
