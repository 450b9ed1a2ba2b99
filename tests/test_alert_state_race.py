"""Two monitoring passes alerting at the same moment, in two processes, keep both alerts in the shared state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from mlgate.alerts import AlertRouter
from mlgate.config import Settings
from mlgate.registry import Registry, keys
from mlgate.stats.profile import build_profile, log_profile
from mlgate.testing import tiny_training_data
from tests.alert_helpers import OWNER, write_owners
from tests.monitor_helpers import isolated_version

MODELS = ("iris-a", "iris-b")


@pytest.fixture
def slow_receiver() -> Iterator[tuple[str, list[bytes]]]:
    """A webhook receiver that answers the first alert only once the second arrives (or after 3 s).

    Without a guard both passes have read the alert state before either writes it back, so one would be lost."""
    received: list[bytes] = []
    both = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            if len(received) >= 2:
                both.set()
            both.wait(timeout=3.0)  # under the 5 s delivery timeout: no retry
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_two_passes_at_once_keep_both_alerts(
    registry: Registry, cli_env: Settings, model_uri: str, tmp_path: Path,
    slow_receiver: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    url, received = slow_receiver
    write_owners(cli_env, url, monkeypatch)
    assert cli_env.config_dir is not None
    rules = [{"signal": "drift.max_psi", "threshold": 0.2, "severity": "critical", "window": "1h"}]
    (cli_env.config_dir / "alerts.yaml").write_text(yaml.safe_dump({"rules": rules}))
    x, y = tiny_training_data()
    batches = {}
    for name in MODELS:
        version = isolated_version(registry, name, model_uri, {keys.OWNER: OWNER})
        log_profile(registry, name, version, build_profile(x, y))
        registry.set_alias(name, cli_env.aliases.production, version)
        drifted = x.sample(300, replace=True, random_state=1).reset_index(drop=True)
        drifted["petal_width"] = drifted["petal_width"] + 1.5
        batches[name] = tmp_path / f"{name}.parquet"
        drifted.to_parquet(batches[name])

    command = [sys.executable, "-m", "mlgate", "monitor"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "env": os.environ.copy(), "text": True}
    passes = [subprocess.Popen([*command, name, "--batch", str(batches[name]), "--json"], **pipes) for name in MODELS]
    outputs = [p.communicate(timeout=240) for p in passes]
    for p, (out, err) in zip(passes, outputs, strict=True):
        assert p.returncode == 0, err[-2000:]
        sent = [n for n in json.loads(out)["notifications"] if n["action"] == "sent"]
        assert len(sent) == 1 and sent[0]["delivered"], out[-2000:]

    firing = AlertRouter(cli_env).firing()  # the state both passes wrote
    assert sorted(firing) == [f"{name}::drift.max_psi" for name in MODELS]
    assert len(received) == 2
