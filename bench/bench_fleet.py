"""Fleet figures: gateway replicas following one PostgreSQL-backed MLflow server while production flips, and
what status and the gateway's poll cost as a model's history grows to 100,000 events.

Run: .venv/bin/python bench/bench_fleet.py [--replicas 20] [--flips 10] [--events 10,1000,100000]
(needs PostgreSQL's server binaries: apt-get install postgresql)

Each replica is a real `mlgate serve` process (poll every 1 s) whose tracking URI goes through a counting
pass-through proxy (http://127.0.0.1:PORT/r07 -> the server), so requests and bytes are counted per replica.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]
os.environ.update({"MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"})
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")  # a machine this busy drops the odd request

import requests  # noqa: E402
from backends import VENV_BIN, MlflowServer, Postgres, _server_env, find_pg_bindir, free_port  # noqa: E402
from backends import server_settings as remote_settings  # noqa: E402
from fleet_store import bulk_copy_events, bulk_old_tags, count_runs  # noqa: E402
from results import median, write_section  # noqa: E402

from mlgate import api  # noqa: E402
from mlgate.registry import Event, Registry, history  # noqa: E402
from mlgate.testing import log_tiny_model, write_card  # noqa: E402

NAME, HIST, OLD = "fleet", "hist", "hist-old"
REST_UP_TO = 10  # events written through the REST API; beyond, rows copied in PostgreSQL (fleet_store.py)
OLD_UP_TO = 1000  # the old home (tags of the model) is measured up to this many events


class Counting:
    """A pass-through HTTP proxy: /<replica>/<path> -> server/<path>, counting requests and bytes per replica."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.counts: dict[str, int] = {}
        self.bytes: dict[str, int] = {}
        self.lock = threading.Lock()
        counting = self
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                who, _, rest = self.path.lstrip("/").partition("/")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                session = getattr(local, "session", None) or requests.Session()
                local.session = session
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = session.request(self.command, f"{counting.upstream}/{rest}", data=body, headers=headers)
                with counting.lock:
                    counting.counts[who] = counting.counts.get(who, 0) + 1
                    counting.bytes[who] = counting.bytes.get(who, 0) + len(answer.content)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.counts, self.bytes = {}, {}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_replica(folder: Path, tracking: str) -> tuple[subprocess.Popen[bytes], str]:
    folder.mkdir(parents=True)
    (folder / "mlgate.yaml").write_text(
        f"tracking_uri: {tracking}\nregistry_uri: {tracking}\npoll_interval_seconds: 1.0\n"
        f"serving_standby: false\nprediction_store_url: sqlite:///{folder / 'predictions.db'}\n"
    )
    port = free_port()
    env = {**os.environ, "MLGATE_CONFIG_DIR": str(folder), "MLFLOW_TRACKING_URI": tracking}
    with (folder / "serve.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(VENV_BIN / "mlgate"), "serve", NAME, "--port", str(port)],
            env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}"


def served_version(session: requests.Session, url: str) -> str | None:
    with contextlib.suppress(requests.RequestException):
        return session.get(f"{url}/ping", timeout=2).headers.get("X-Mlgate-Model-Version")
    return None


def wait_all(urls: list[str], version: str, timeout: float = 300) -> float:
    """Seconds until every replica's /ping names ``version``."""
    began = time.perf_counter()
    session = requests.Session()
    left = set(urls)
    while left and time.perf_counter() - began < timeout:
        left = {u for u in left if served_version(session, u) != version}
        if left:
            time.sleep(0.05)
    if left:
        raise RuntimeError(f"{len(left)} replica(s) never served v{version}")
    return time.perf_counter() - began


def promote(registry: Registry, version: str) -> float:
    began = time.perf_counter()
    api.promote(NAME, version, "production", force=True, reason="fleet bench", registry=registry)
    return (time.perf_counter() - began) * 1000


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def fleet(registry: Registry, proxy: Counting, work: Path, replicas: int, flips: int) -> dict[str, Any]:
    """Promote with no replica, then start the replicas, measure their idle polling, then flip production."""
    versions = ["1", "2"]
    idle = [promote(registry, versions[(i + 1) % 2]) for i in range(flips)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for i in range(replicas):
            proc, url = start_replica(work / f"replica{i:02d}", f"{proxy.url}/r{i:02d}")
            procs.append(proc)
            urls.append(url)
            time.sleep(0.5)
        current = registry.aliases(NAME)["production"]
        wait_all(urls, current, timeout=600)
        time.sleep(3)
        proxy.reset()
        quiet = 20.0
        time.sleep(quiet)
        per = [proxy.counts.get(f"r{i:02d}", 0) / quiet for i in range(replicas)]
        per_bytes = [proxy.bytes.get(f"r{i:02d}", 0) / quiet for i in range(replicas)]
        busy, converge = [], []
        for i in range(flips):
            target = versions[i % 2] if versions[i % 2] != current else versions[(i + 1) % 2]
            began = time.perf_counter()
            busy.append(promote(registry, target))
            wait_all(urls, target)
            converge.append(time.perf_counter() - began)
            current = target
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    return {
        "replicas": replicas, "flips": flips, "req_s_median": median(per), "req_s_max": max(per),
        "bytes_s_median": median(per_bytes), "converge_median": median(converge), "converge_max": max(converge),
        "promote_idle_p50": median(idle), "promote_idle_p99": p99(idle),
        "promote_busy_p50": median(busy), "promote_busy_p99": p99(busy),
    }  # fmt: skip


def timed_ms(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return median(times)


def write_events(registry: Registry, name: str, count: int, old_format: bool) -> None:
    """``count`` more events through the server's REST API, 8 threads (old format: tags of the model)."""

    def one(i: int) -> None:
        event = Event(action="rollout-analysis", model=name, to_version="1", result="wait", reason=f"bench {i}")
        if old_format:
            key = f"mlgate.event.{time.time_ns():020d}.{event.op_id}.{event.result}"
            registry.client.set_registered_model_tag(name, key, event.to_json())
        else:
            history.write(registry, event)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))


def measure(registry: Registry, server: MlflowServer, name: str) -> dict[str, float]:
    session = requests.Session()
    url = f"{server.url}/api/2.0/mlflow/registered-models/get"
    size = len(session.get(url, params={"name": name}, timeout=60).content)
    return {
        "poll_ms": timed_ms(lambda: registry.model(name), 15),
        "poll_bytes": size,
        "status_ms": timed_ms(lambda: api.status(name, registry=registry), 5),
        "history50_ms": timed_ms(lambda: api.history(name, registry=registry, limit=50), 5),
    }


def history_scaling(
    registry: Registry, server: MlflowServer, pg: Postgres, db: str, card: Path, uri: str, levels: list[int]
) -> tuple[list[dict[str, Any]], float]:
    for name in (HIST, OLD):
        api.register(name, uri, card, registry=registry)
        api.promote(name, "1", "production", force=True, reason="bench", registry=registry)
    rows, copy_s, at_s = [], 0.0, 0.0
    for level in levels:
        have = count_runs(pg.uri(db, with_password=True), HIST)
        if level <= REST_UP_TO:
            write_events(registry, HIST, level - have, old_format=False)
        else:
            began = time.perf_counter()
            bulk_copy_events(pg.uri(db, with_password=True), HIST, level - have)
            copy_s += time.perf_counter() - began
        assert count_runs(pg.uri(db, with_password=True), HIST) == level, "the history does not hold every event"
        rows.append({"home": "history experiment (this release)", "events": level, **measure(registry, server, HIST)})
        if level <= OLD_UP_TO:
            old_have = len(registry.events(OLD))
            if level <= REST_UP_TO:
                write_events(registry, OLD, level - old_have, old_format=True)
            else:
                bulk_old_tags(pg.uri(db, with_password=True), OLD, level - old_have)
            rows.append({"home": "tags of the registered model (before)", "events": level,
                         **measure(registry, server, OLD)})  # fmt: skip
        if level <= 1000:  # the whole history read back (what `status --at` folds)
            began = time.perf_counter()
            api.status(HIST, registry=registry, at=time.time())
            at_s = time.perf_counter() - began
    return rows, at_s


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument("--flips", type=int, default=10)
    parser.add_argument("--events", default="10,1000,100000")
    args = parser.parse_args()
    bindir = find_pg_bindir()
    if bindir is None:
        print("skipped: PostgreSQL server binaries not found (apt-get install postgresql)")
        return 0
    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-fleet-"))
    card = write_card(work / "card.yaml")
    pg = Postgres(bindir)
    pg.start()
    os.environ["PGPASSWORD"] = pg.password
    db = "fleet"
    server = MlflowServer(pg.create_database(db), work / "artifacts", work / "server.log", _server_env(pg), workers=1)
    proxy = None
    try:
        server.start(timeout=600)  # a busy machine: the server's workers take a while to import
        proxy = Counting(server.url)
        settings = remote_settings(server.url, work / "cfg", lock_wait_seconds=60.0)
        registry = Registry.from_settings(settings)
        uri = log_tiny_model(settings)
        for _ in range(2):
            api.register(NAME, uri, card, registry=registry)
        api.promote(NAME, "1", "production", force=True, reason="bench", registry=registry)
        levels = [int(x) for x in args.events.split(",")]
        rows, at_s = history_scaling(registry, server, pg, db, card, uri, levels)
        figures = fleet(registry, proxy, work, args.replicas, args.flips)
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()
        pg.stop()
    write_section("fleet", render(figures, rows, at_s, levels))
    print(render(figures, rows, at_s, levels))
    return 0


def render(f: dict[str, Any], rows: list[dict[str, Any]], at_s: float, levels: list[int]) -> str:
    new = [r for r in rows if r["home"].startswith("history")]
    first, last = new[0], new[-1]
    table = [
        "| history lives in | events | `mlgate status` ms | poll (`get_registered_model`) ms | poll bytes "
        "| `mlgate history --limit 50` ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        table.append(f"| {r['home']} | {r['events']:,} | {r['status_ms']:.1f} | {r['poll_ms']:.1f} | "
                     f"{r['poll_bytes']:,} | {r['history50_ms']:.1f} |")  # fmt: skip
    return "\n".join([
        "## Fleet: replicas following one PostgreSQL-backed MLflow server, history at 100,000 events "
        "(`.venv/bin/python bench/bench_fleet.py`)",
        "",
        f"One `mlflow server` (1 worker) on PostgreSQL 15, {f['replicas']} `mlgate serve` replicas (processes, poll "
        f"every 1 s) each reaching it through a counting pass-through proxy; {platform.machine()}, 2 cores shared "
        "with other work. Medians unless said.",
        "",
        "| while production flips | figure |",
        "|---|---|",
        f"| tracking-server requests per replica, idle (20 s) | {f['req_s_median']:.2f}/s (max {f['req_s_max']:.2f}) |",
        f"| bytes read per replica, idle | {f['bytes_s_median']:,.0f} B/s |",
        f"| time until every replica serves the new version ({f['flips']} flips, from the start of `promote`) | "
        f"{f['converge_median']:.2f} s (max {f['converge_max']:.2f}) |",
        f"| `mlgate promote --to production` with no replica | p50 {f['promote_idle_p50']:.0f} ms, "
        f"p99 {f['promote_idle_p99']:.0f} ms |",
        f"| the same while {f['replicas']} replicas poll | p50 {f['promote_busy_p50']:.0f} ms, "
        f"p99 {f['promote_busy_p99']:.0f} ms |",
        "",
        *table,
        "",
        f"At {last['events']:,} events vs {first['events']:,}: "
        f"status **{last['status_ms'] / first['status_ms']:.2f}x**, "
        f"poll **{last['poll_ms'] / first['poll_ms']:.2f}x** (targets <= 1.5x), poll payload "
        f"**{last['poll_bytes']:,} B** (target <= 10 KB). Reading the whole history back (what `status --at`, "
        f"`history --at` and `mlgate which` fold) took {at_s:.1f} s at 1,000 events; it grows with the history.",
        "",
        f"How the history was written: the first {REST_UP_TO} events through the server's REST API with mlgate's own "
        "writer (`history.write`: one `create_run` + one `UpdateRun` each, 4 threads); beyond that, rows copied "
        "in PostgreSQL from the runs MLflow itself wrote (`bench/fleet_store.py`: same columns, new run ids, "
        "keys and times, the event JSON in the same tags) with `execute_values`: events through REST ran at a few "
        "a second on this busy machine. The count is checked in the store afterwards. The old home "
        f"(tags of the registered model, rows inserted likewise) is shown up to {OLD_UP_TO:,} events: every poll "
        "reads all of them.",
    ])  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
