"""A real Prometheus (Debian's 2.42) on a free loopback port, scraping given targets every second.

    with PrometheusServer(["127.0.0.1:8123"], tmp_path) as prom:   # skipped with an install hint if absent
        prom.wait_for('sum(mlgate_requests_total)', lambda v: v > 10)
        prom.stop(); prom.start()                                   # the same URL and data after a restart

Outside CI a missing binary skips the test saying how to install it; with CI set it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.alertmanager_support import require_binary
from tests.backends import free_port

INSTALL_HINT = "install it with `apt-get install prometheus` (Debian/Ubuntu; .ci/run does it in CI)"


def prometheus_binary() -> str:
    """The prometheus binary ($MLGATE_PROMETHEUS, /usr/bin/prometheus or the PATH); skip (fail in CI) without."""
    path = os.environ.get("MLGATE_PROMETHEUS") or shutil.which("prometheus") or "/usr/bin/prometheus"
    return require_binary(path, INSTALL_HINT)


class PrometheusServer:
    """Prometheus with a 1 s scrape and evaluation interval, its TSDB and config in ``folder``."""

    def __init__(self, targets: list[str], folder: Path, scrape_interval: str = "1s") -> None:
        self.binary = prometheus_binary()
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "scrape_configs": [{"job_name": "mlgate", "static_configs": [{"targets": targets}]}],
        }
        self.config = folder / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.log = open(self.folder / "prometheus.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.tail()
            try:
                if requests.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"prometheus did not get ready in {timeout} s: {self.tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if getattr(self, "log", None) is not None:
            self.log.close()

    def tail(self, chars: int = 2000) -> str:
        path = self.folder / "prometheus.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def value(self, promql: str) -> float | None:
        """The one number of an instant query now (None when it returns nothing)."""
        data = requests.get(self.url + "/api/v1/query", params={"query": promql}, timeout=5).json()["data"]
        result = data["result"]
        if data["resultType"] == "scalar":
            return float(result[1])
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, promql: str, accept: Callable[[float], bool], timeout: float = 30.0) -> float:
        """Poll ``promql`` until its value is accepted (the scrapes have caught up)."""
        deadline = time.monotonic() + timeout
        seen: Any = None
        while time.monotonic() < deadline:
            seen = self.value(promql)
            if seen is not None and accept(seen):
                return seen
            time.sleep(0.2)
        raise AssertionError(f"{promql} never satisfied the test in {timeout} s (last {seen}): {self.tail()}")

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
