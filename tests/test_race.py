"""Parallel processes promoting and rolling back one model: each completes or fails cleanly, history agrees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlgate import api
from mlgate.config import Settings
from mlgate.registry import Registry

MLGATE = str(Path(sys.executable).parent / "mlgate")


def test_parallel_promotions_and_rollbacks_leave_aliases_and_history_in_agreement(
    cli_env: Settings, registry: Registry, model_uri: str, card_path: Path
) -> None:
    versions = [api.register("m", model_uri, card_path, registry=registry).version for _ in range(3)]
    for v in versions[:2]:
        api.promote("m", v, "production", force=True, reason="setup", registry=registry)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLGATE_"))}
    env.update(
        MLGATE_CONFIG_DIR=str(cli_env.config_dir), MLGATE_LOCK_WAIT_SECONDS="60", MLFLOW_DISABLE_TELEMETRY="true"
    )
    commands = [
        ["promote", "m", versions[2], "--to", "production", "--force", "--reason", "race-a"],
        ["rollback", "m", "--to", versions[0], "--reason", "race-b"],
        ["promote", "m", versions[1], "--to", "production", "--force", "--reason", "race-c"],
        ["rollback", "m", "--to", versions[2], "--force", "--reason", "race-d"],
    ]
    procs = [subprocess.Popen([MLGATE, *c], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in commands]  # fmt: skip
    outcomes = [(p.wait(timeout=240), p.stderr.read() if p.stderr else "") for p in procs]
    for code, err in outcomes:
        assert code in (0, 1), err  # 1 = refused cleanly (e.g. not a valid rollback target now)
        assert "Traceback" not in err and "internal error" not in err
        if code == 1:
            assert err.startswith("error: ")
    assert any(code == 0 for code, _ in outcomes)

    events = api.history("m", registry=registry)
    moves = [e for e in events if e.action in ("promote-production", "rollback")]
    assert all(e.result == "completed" for e in moves), [(e.action, e.result) for e in moves]
    succeeded = sum(1 for code, _ in outcomes if code == 0)
    assert len(moves) == 2 + succeeded  # the two setup promotions plus every successful operation: none lost
    assert registry.aliases("m")["production"] == moves[0].to_version
    assert registry.lock_info("m") is None
