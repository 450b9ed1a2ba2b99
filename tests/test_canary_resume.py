"""A `mlgate rollout run` killed mid-rollout (SIGKILL) resumes from the registry's state in a new process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from mlgate.config import Settings
from mlgate.registry import Registry, keys
from mlgate.release.rollout import state as rollout_state
from mlgate.release.rollout import steps
from tests.rollout_support import production_and_candidate, store, traffic

MLGATE = str(Path(sys.executable).parent / "mlgate")


def test_a_killed_rollout_run_resumes_where_the_registry_says(
    cli_env: Settings, model_uri: str, tmp_path: Path
) -> None:
    assert cli_env.config_dir is not None
    config = cli_env.config_dir / "mlgate.yaml"
    data = yaml.safe_load(config.read_text())
    data.update({"prediction_store_url": f"sqlite:///{tmp_path / 'predictions.db'}", "lock_ttl_seconds": 3})
    config.write_text(yaml.safe_dump(data))
    (cli_env.config_dir / "rollout.yaml").write_text(
        yaml.safe_dump({"steps": [10, 50, 100], "bake": "3s", "min_requests": 20})
    )
    settings = cli_env.with_overrides(prediction_store_url=data["prediction_store_url"], lock_ttl_seconds=3.0)
    registry = Registry.from_settings(settings)
    v1, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    now = time.time()
    record = store(settings)
    record.record_many(traffic("m", v1, "production", now, 150, 1500))  # 10 requests a second, both routes
    record.record_many(traffic("m", v2, "canary", now, 150, 1500))
    steps.start(registry, "m", v2)

    first = subprocess.Popen(
        [MLGATE, "rollout", "run", "m", "--poll", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while registry.model_tags("m").get(keys.CANARY_WEIGHT) != "50":
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "the first run never reached 50 %"
            time.sleep(0.2)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    state = rollout_state.load_state(registry, "m")
    assert state is not None and state.status == "running" and state.step == 1  # what the killed run left

    second = subprocess.run(
        [MLGATE, "rollout", "run", "m", "--poll", "0.2"], capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "completed" in second.stdout
    assert registry.aliases("m")["production"] == v2
    events = [e for e in reversed(registry.events("m")) if e.action.startswith("rollout-")]
    assert [e.action for e in events].count("rollout-start") == 1
    judged = [e.details["weight"] for e in events if e.action == "rollout-analysis"]
    assert judged == [10, 50]  # the resumed run judged 50 %, it did not start over at 10 %
    assert events[-1].action == "rollout-complete"
