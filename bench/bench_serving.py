"""Benchmark the serving gateway against `mlflow models serve` and in-process predict; time to recover.

Run: .venv/bin/python bench/bench_serving.py   (about 4 minutes; writes the "serving" section of RESULTS.md)

Same model (the tiny iris LogisticRegression), same 1-row JSON payload, loopback. Load comes from
wrk (or, without it, a separate process: N threads, each with one keep-alive connection, sending
back to back for a fixed time). Rounds alternate the servers so all see the same machine noise;
figures are medians over rounds. Beside the gateway (1 and 2 workers) and `mlflow models serve`,
the same run measures the ceiling of the stack: a bare ASGI app on uvicorn + httptools + uvloop
answering a fixed JSON body, with no model, validation, record or metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.loadgen import BODY, Client  # noqa: E402 - the bench folder is not a package on its own

BIN = Path(sys.executable).parent
NAME = "iris"
SERVERS = ("gateway", "gateway, 2 workers", "mlflow", "bare ASGI")
ROUNDS = 3
SECONDS = 4.0
STEADY_RATE = 100.0  # requests/s per client during the time-to-recover runs (2 clients)


# --- the load generator (runs in its own process) ------------------------------------------------
def load(url: str, concurrency: int, seconds: float, body: str, rate: float = 0.0) -> dict[str, Any]:
    """Load from ``concurrency`` keep-alive connections for ``seconds``; per-request records.

    ``rate`` > 0 paces each connection to that many requests per second (a steady load that
    leaves the machine room to run commands); 0 sends back to back (closed loop).
    """
    payload = body.encode()
    records: list[list[Any]] = []
    lock = threading.Lock()
    start = time.perf_counter()
    stop_at = start + seconds

    def worker() -> None:
        mine: list[list[Any]] = []
        client = Client(url, timeout=10)
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            if rate > 0 and mine:
                pause = mine[-1][0] + start + 1.0 / rate - t0
                if pause > 0:
                    time.sleep(pause)
                    t0 = time.perf_counter()
            status, version, error = client.post(payload)
            if error is not None:
                time.sleep(0.005)  # a refused connection returns at once: do not spin
            mine.append([t0 - start, (time.perf_counter() - t0) * 1000, status, version])
        with lock:
            records.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"records": records, "seconds": seconds}


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]
"""


def wrk_load(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    """One wrk run: requests/s, p50 and p99 (ms) of answered requests, and failures."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % BODY)
    try:
        done = subprocess.run(
            ["wrk", f"-t{min(concurrency, 2)}", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency",
             "-s", script.name, url + "/invocations"],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        )  # fmt: skip
    finally:
        os.unlink(script.name)
    return parse_wrk(done.stdout)


def parse_wrk(text: str) -> dict[str, float]:
    """Figures from wrk's --latency report."""
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    figures = {"failed": 0.0}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            value = parts[1]
            for suffix in ("us", "ms", "s"):
                if value.endswith(suffix):
                    figures["p" + parts[0][:-1]] = float(value[: -len(suffix)]) * unit[suffix]
                    break
        elif line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif line.strip().startswith("Non-2xx"):
            figures["failed"] += float(parts[-1])
        elif line.strip().startswith("Socket errors:"):
            figures["failed"] += sum(float(p.strip(",")) for p in parts[3::2])
    return figures


def measure(url: str, concurrency: int, proc: subprocess.Popen[Any] | None = None) -> dict[str, float]:
    """One load run; with ``proc``, also the CPU time its process tree spent per answered request (us):
    a figure a busy machine disturbs far less than requests per second."""
    pids = process_tree(proc.pid) if proc is not None else []
    before = cpu_seconds(pids)
    if shutil.which("wrk"):
        figures = wrk_load(url, concurrency, SECONDS)
    else:
        figures = summary(finish_load(run_load(url, concurrency, SECONDS)), SECONDS)
    answered = max(1.0, figures["rps"] * SECONDS)
    figures["cpu_us"] = (cpu_seconds(pids) - before) / answered * 1e6 if pids else float("nan")
    return figures


def process_tree(pid: int) -> list[int]:
    found = [pid]
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for child in children:
        found += process_tree(int(child))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_load(url: str, concurrency: int, seconds: float, rate: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--load", url, str(concurrency), str(seconds), str(rate)],
        stdout=subprocess.PIPE,
        text=True,
    )


def finish_load(proc: subprocess.Popen[str]) -> list[list[Any]]:
    out, _ = proc.communicate(timeout=120)
    return list(json.loads(out)["records"])


def summary(records: list[list[Any]], seconds: float) -> dict[str, float]:
    ok = sorted(r[1] for r in records if r[2] == 200)
    failed = sum(1 for r in records if r[2] != 200)
    if not ok:
        return {"rps": 0.0, "p50": float("nan"), "p99": float("nan"), "failed": failed}
    return {
        "rps": len(ok) / seconds,
        "p50": ok[len(ok) // 2],
        "p99": ok[min(len(ok) - 1, int(len(ok) * 0.99))],
        "failed": failed,
    }


# --- set-up ----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[Any], timeout: float = 180) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server at {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/ping", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def environment(folder: Path) -> dict[str, str]:
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return {
        **os.environ,
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": uri,
        "MLGATE_ARTIFACT_ROOT": str(folder / "artifacts"),
        "MLGATE_ACTOR": "bench",
        "MLGATE_POLL_INTERVAL_SECONDS": "0.5",
        "MLGATE_ADMIN_TOKEN": "bench-admin-token",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "GX_ANALYTICS_ENABLED": "false",
    }


def prepare(folder: Path) -> Any:
    """A registry with two versions of the tiny model, both proven in production; v2 serves."""
    os.environ.update({"MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false"})
    sys.path.insert(0, str(ROOT))
    from mlgate import api
    from mlgate.testing import registry_with_versions

    registry = registry_with_versions(folder, NAME, 2)
    api.promote(NAME, "1", "production", force=True, reason="benchmark set-up", registry=registry)
    api.promote(NAME, "2", "production", force=True, reason="benchmark set-up", registry=registry)
    return registry


def start_gateway(env: dict[str, str], port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "mlgate"), "serve", NAME, "--port", str(port), "--workers", str(workers)], env=env,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def start_bare(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """The stack's ceiling: uvicorn + httptools + uvloop and an ASGI app answering a fixed JSON body."""
    return subprocess.Popen(
        [sys.executable, __file__, "--bare", str(port)], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def bare_server(port: int) -> None:
    import uvicorn

    answer = b'{"predictions": [0]}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # read the request body, as any scoring server must
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    uvicorn.run(app, host="127.0.0.1", port=port, http="httptools", loop="uvloop", log_level="warning",
                access_log=False, lifespan="off")  # fmt: skip


def start_mlflow(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{NAME}@production", "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def in_process_latency(registry: Any) -> float:
    """Median latency (ms) of a bare pyfunc predict of the same 1-row frame, c=1."""
    import pandas as pd

    from mlgate.registry.package import load_package

    with tempfile.TemporaryDirectory() as tmp:
        model = load_package(registry, NAME, "2", tmp).model
        frame = pd.DataFrame(**json.loads(BODY)["dataframe_split"])
        samples = []
        deadline = time.perf_counter() + SECONDS
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            model.predict(frame)
            samples.append((time.perf_counter() - t0) * 1000)
    return float(statistics.median(samples))


# --- time to recover -------------------------------------------------------------------------------
def recover_gateway(env: dict[str, str], url: str, nudge: bool) -> dict[str, float]:
    """`mlgate rollback` under steady load: until every answer is the last known good (header-verified).

    ``nudge``: the command has the gateway's admin token, so it asks the gateway to reload at once;
    without it the gateway switches at its next poll of the registry.
    """
    command_env = {**env, "MLGATE_ENDPOINT": url}
    if not nudge:
        command_env.pop("MLGATE_ADMIN_TOKEN")
    loader = run_load(url, 2, 15.0, STEADY_RATE)  # long enough to see the switch even on a loaded machine
    time.sleep(2.0)
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "mlgate"), "rollback", NAME, "--reason", "benchmark"], env=command_env,
        capture_output=True, text=True,
    )  # fmt: skip
    command_s = time.perf_counter() - t0
    records = finish_load(loader)
    if done.returncode != 0:
        raise SystemExit(f"mlgate rollback failed: {done.stdout}\n{done.stderr}")
    start = 2.0  # the load generator's clock: rollback started ~2 s in
    records.sort(key=lambda r: r[0])
    last_old = max((r[0] + r[1] / 1000 for r in records if r[3] == "2"), default=start)
    switched = any(r[3] == "1" and r[0] > last_old for r in records)
    if not switched:  # a very busy machine: the switch came after the load ended; reported as not measured
        print("the gateway did not answer with the last known good version during the load", file=sys.stderr)
    return {
        "command_s": command_s,
        "recover_s": max(last_old - start, 0.0) if switched else float("nan"),
        "failed": sum(1 for r in records if r[2] != 200),
        "requests": len(records),
    }


def recover_mlflow(env: dict[str, str], registry: Any, port: int, proc: subprocess.Popen[bytes]) -> dict[str, float]:
    """Flip the alias and restart `mlflow models serve` under steady load: until it answers again."""
    url = f"http://127.0.0.1:{port}"
    loader = run_load(url, 2, 45.0, STEADY_RATE)
    time.sleep(2.0)
    t0 = time.perf_counter()
    registry.set_alias(NAME, "production", "1")
    stop(proc)
    while time.perf_counter() - t0 < 30:  # its uvicorn child can outlive the parent for a moment
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                break
        time.sleep(0.05)
    restarted = start_mlflow(env, port)
    wait_ready(url, restarted)
    restart_s = time.perf_counter() - t0
    records = finish_load(loader)
    failed = [r for r in records if r[2] != 200]
    first_failure = failed[0][0] if failed else 2.0
    back = [r[0] + r[1] / 1000 for r in records if r[2] == 200 and r[0] > first_failure]
    first_ok_after = min(back) if back else 2.0 + restart_s
    stop(restarted)
    return {
        "command_s": restart_s,
        "recover_s": first_ok_after - 2.0,
        "down_s": (failed[-1][0] - failed[0][0]) if failed else 0.0,
        "failed": len(failed),
        "requests": len(records),
    }


FLOOR = "import mlflow, mlflow.store.model_registry.sqlalchemy_store, mlflow.store.tracking.sqlalchemy_store"


def import_floor(env: dict[str, str], runs: int = 3) -> float:
    """Median seconds to start Python and import what any MLflow client of a sqlite registry imports."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", FLOOR], env=env, check=True)
        times.append(time.perf_counter() - t0)
    return float(statistics.median(times))


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="mlgate-bench-serving-"))
    procs: list[subprocess.Popen[Any]] = []
    try:
        registry = prepare(folder)
        from mlgate import api

        env = environment(folder)
        ports = {name: free_port() for name in SERVERS}
        started = {
            "gateway": start_gateway(env, ports["gateway"]),
            "gateway, 2 workers": start_gateway(env, ports["gateway, 2 workers"], workers=2),
            "mlflow": start_mlflow(env, ports["mlflow"]),
            "bare ASGI": start_bare(env, ports["bare ASGI"]),
        }
        procs += list(started.values())
        mlflow_proc, ml_port = started["mlflow"], ports["mlflow"]
        targets = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name, proc in started.items():
            wait_ready(targets[name], proc)
        results: dict[tuple[str, int], list[dict[str, float]]] = {}
        for url in targets.values():  # warm up (every worker of the 2-worker gateway: several connections)
            finish_load(run_load(url, 8, 2.0))
        for _ in range(ROUNDS):
            for concurrency in (1, 8):
                for name, url in targets.items():
                    results.setdefault((name, concurrency), []).append(measure(url, concurrency, started[name]))
        local_ms = in_process_latency(registry)
        med = {key: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for key, runs in results.items()}
        print(json.dumps({f"{name} c={c}": figures for (name, c), figures in med.items()}), flush=True)
        for name in ("gateway, 2 workers", "bare ASGI"):  # not part of the time-to-recover runs
            stop(started[name])
        floor = import_floor(env)
        runs: dict[str, list[dict[str, float]]] = {"nudged": [], "polled": []}
        for _ in range(ROUNDS):
            for mode, nudge in (("nudged", True), ("polled", False)):
                if registry.aliases(NAME).get("production") != "2":
                    api.promote(NAME, "2", "production", force=True, reason="benchmark: again", registry=registry)
                    time.sleep(2.0)  # the gateway follows, and loads the new last known good as its standby
                runs[mode].append(recover_gateway(env, targets["gateway"], nudge))
        recovered = {mode: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for mode, rs in runs.items()}
        recovery_ml = recover_mlflow(env, registry, ml_port, mlflow_proc)
        write(med, local_ms, recovered, recovery_ml, floor)
        return 0
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


def write(
    med: dict[tuple[str, int], dict[str, float]],
    local_ms: float,
    gw: dict[str, dict[str, float]],
    ml: dict[str, float],
    floor_s: float,
) -> None:
    sys.path.insert(0, str(HERE))
    from results import write_section

    g1, m1, g8, m8 = med[("gateway", 1)], med[("mlflow", 1)], med[("gateway", 8)], med[("mlflow", 8)]
    w8, b8 = med[("gateway, 2 workers", 8)], med[("bare ASGI", 8)]
    added = g1["p50"] - local_ms
    generator = "wrk" if shutil.which("wrk") else "a Python load generator (install wrk for a lighter one)"
    lines = [
        "## Serving gateway (`bench/bench_serving.py`)",
        "",
        f"Tiny iris model, 1-row JSON `dataframe_split`, loopback, closed-loop load from {generator}; "
        f"medians of {ROUNDS} alternating rounds of {SECONDS:g} s. Gateway = `mlgate serve` (prediction record "
        "on, micro-batching on, every request validated against the signature and counted in the metrics); "
        "MLflow = `mlflow models serve --env-manager local` (its defaults, same uvicorn/httptools/uvloop); bare "
        "ASGI = uvicorn + httptools + uvloop answering a fixed JSON body (no model: the stack's ceiling). "
        f"Machine: {os.cpu_count()} cores shared with other work (the load generator takes its share; load "
        f"average {os.getloadavg()[0]:.1f} when the run ended), so compare the ratios and the CPU per request.",
        "",
        "| server | c | req/s | p50 ms | p99 ms | failed | CPU us / request (server's processes) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, c), f in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(
            f"| {name} | {c} | {f['rps']:.0f} | {f['p50']:.2f} | {f['p99']:.2f} | {f['failed']:.0f} | "
            f"{f['cpu_us']:.0f} |"
        )
    lines += [
        f"| in-process pyfunc predict | 1 | - | {local_ms:.2f} | - | - | - |",
        "",
        f"- throughput at c=8: gateway **{g8['rps']:.0f} req/s** (target >= 4,000); gateway / mlflow = "
        f"**{g8['rps'] / m8['rps']:.2f}x** (target >= 12x)",
        f"- p99 at c=8: gateway / mlflow = **{g8['p99'] / m8['p99']:.3f}x** (target <= 0.1x)",
        f"- the stack's ceiling (bare ASGI) at c=8: {b8['rps']:.0f} req/s; the gateway reaches "
        f"{g8['rps'] / b8['rps']:.0%} of it",
        f"- 2 workers at c=8: {w8['rps']:.0f} req/s, p99 {w8['p99']:.2f} ms ({w8['rps'] / g8['rps']:.2f}x one worker; "
        "on 2 cores the second worker competes with the load generator and the record writer)",
        f"- throughput at c=1: gateway / mlflow = {g1['rps'] / m1['rps']:.2f}x; p50 {g1['p50'] / m1['p50']:.2f}x",
        f"- gateway p50 at c=1 minus an in-process pyfunc predict (MLflow's schema enforcement included): "
        f"**{added:.2f} ms** (target <= 0.7 ms)",
        "",
        f"Time to recover under a steady load (2 clients of {STEADY_RATE:g} req/s each, Python generator; "
        f"gateway poll interval 0.5 s; `mlgate rollback` rows: medians of {ROUNDS} runs each):",
        "",
        "| action | command / restart s | until answers are the good version, s | failed requests |",
        "|---|---|---|---|",
    ]
    for key, label in (
        ("nudged", "`mlgate rollback`, admin token set: asks the gateway to reload now"),
        ("polled", "`mlgate rollback`, no admin token: the gateway's next poll"),
    ):
        f = gw[key]
        lines.append(
            f"| {label} | **{f['command_s']:.2f}** | {f['recover_s']:.2f} (header-verified) | "
            f"{f['failed']:.0f} of {f['requests']:.0f} |"
        )
    lines += [
        f"| flip alias + restart `mlflow models serve` | {ml['command_s']:.2f} | {ml['recover_s']:.2f} "
        f"(down {ml['down_s']:.2f} s; version cannot be verified) | {ml['failed']:.0f} of {ml['requests']:.0f} |",
        "",
        f"Target for the rollback command: <= 2.5 s end to end. For scale: `python -c '{FLOOR}'`, what any "
        f"MLflow client of a sqlite registry imports, took {floor_s:.2f} s in this run (median of 3); that "
        "includes the interpreter's exit-time garbage collection over MLflow's objects (~0.9 s), which "
        "mlgate's commands skip (`mlgate/heap.py`).",
    ]
    write_section("serving", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bare":
        bare_server(int(sys.argv[2]))
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        print(json.dumps(load(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), BODY, float(sys.argv[5]))))
        sys.exit(0)
    sys.exit(main())
