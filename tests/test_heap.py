"""The collector policy of mlgate's processes: a command defers collection while it imports, then freezes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import gc, json, sys, time
from mlgate import heap
seen = {"library_import_enabled": gc.isenabled()}
heap.SAFETY_SECONDS = float(sys.argv[2])
heap.defer_collection()
seen["deferred_enabled"] = gc.isenabled()
if sys.argv[1] == "connect":
    from mlgate import api
    from mlgate.testing import throwaway_settings
    api.connect(throwaway_settings(sys.argv[3]))
else:
    time.sleep(float(sys.argv[2]) + 0.5)
seen["after_enabled"] = gc.isenabled()
seen["frozen"] = gc.get_freeze_count()
print(json.dumps(seen))
"""


def _run(*args: str) -> dict[str, object]:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_command_collects_again_once_connected_with_the_imports_frozen(tmp_path: Path) -> None:
    seen = _run("connect", "60", str(tmp_path / "store"))
    assert seen["library_import_enabled"] is True  # importing mlgate changes nothing for a library user
    assert seen["deferred_enabled"] is False
    assert seen["after_enabled"] is True
    assert int(seen["frozen"]) > 100_000  # MLflow's import, exempt from every later full collection


def test_collection_resumes_after_the_safety_delay_without_a_connection() -> None:
    seen = _run("wait", "0.2")
    assert seen["deferred_enabled"] is False
    assert seen["after_enabled"] is True
