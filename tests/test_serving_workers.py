"""`mlgate serve --workers 3`: every scrape of /metrics counts every request, whichever worker answers it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.serving_helpers import NAME, module_registry, rows, split_body

REQUESTS = 120
SCRAPES = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=20) as answer:  # a new connection each time: any worker takes it
        return answer.status, answer.read()


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as answer:
        answer.read()
        return int(answer.status)


def _totals(text: str) -> dict[str, float]:
    found = {"requests": 0.0, "latency_count": 0.0, "rows": 0.0, "serving_v1": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mlgate_requests_total":
                found["requests"] += sample.value
            elif sample.name == "mlgate_request_latency_seconds_count":
                found["latency_count"] += sample.value
            elif sample.name == "mlgate_predicted_rows_total":
                found["rows"] += sample.value
            elif sample.name == "mlgate_serving_version" and sample.labels.get("version") == "1":
                found["serving_v1"] = sample.value
    return found


def test_three_workers_give_the_same_totals_on_every_scrape(tmp_path: Path, template_store: tuple[Path, str]) -> None:
    registry = module_registry(tmp_path / "registry", template_store, versions=1)
    settings = registry.settings
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left by a previous server")  # must not be read: cleaned at start
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "MLGATE_ARTIFACT_ROOT": str(settings.artifact_root),
        "MLGATE_ACTOR": "tester",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlgate"), "serve", NAME, "--port", str(port), "--workers", "3"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while log_path.read_text().count("Application startup complete") < 3:  # every worker is serving
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        body = json.dumps(split_body(rows(2))).encode()
        statuses: list[int] = []

        def client(n: int) -> None:
            statuses.extend(_post(url + "/invocations", body) for _ in range(n))

        threads = [threading.Thread(target=client, args=(REQUESTS // 4,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [200] * REQUESTS

        seen = []
        for _ in range(SCRAPES):
            status, text = _get(url + "/metrics")
            assert status == 200
            seen.append(_totals(text.decode()))
        # whichever worker answers the scrape, it reports the whole server: no counter ever goes back
        assert [s["requests"] for s in seen] == [REQUESTS] * SCRAPES
        assert [s["latency_count"] for s in seen] == [REQUESTS] * SCRAPES
        assert [s["rows"] for s in seen] == [2 * REQUESTS] * SCRAPES
        assert [s["serving_v1"] for s in seen] == [1.0] * SCRAPES
        workers = {p.name.rsplit("_", 1)[1] for p in metrics_dir.glob("counter_*.db")}
        assert len(workers) >= 2, "the requests should have reached several workers"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert metrics_dir.is_dir()  # a folder the user named is kept
