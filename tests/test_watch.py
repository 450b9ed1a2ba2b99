"""The post-promotion watch on a real sqlite registry and the gateway's real prediction record: a quiet watch
ends completed, a breach rolls back to the last known good with the evidence, a killed watch resumes, no watch
when rollout.yaml says 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlgate import api
from mlgate.cli import main
from mlgate.config import Settings
from mlgate.exceptions import PolicyError, TransitionRefused
from mlgate.registry import Registry, keys
from mlgate.release.rollout import driver, steps
from mlgate.release.rollout import watch as watching
from mlgate.release.rollout.policy import parse_rollout_policy
from mlgate.release.rollout.watch_state import load_watch
from tests.alert_helpers import Receiver, write_owners
from tests.rollout_support import IRREVERSIBLE, FakeClock, pass_gate, production_and_candidate, register, store, traffic

MLGATE = str(Path(sys.executable).parent / "mlgate")


def write_policy(settings: Settings, **policy: object) -> None:
    assert settings.config_dir is not None
    base = {"steps": [10, 50, 100], "bake": "60s", "min_requests": 50, "watch": "10m"}
    (settings.config_dir / "rollout.yaml").write_text(yaml.safe_dump({**base, **policy}))


def watch_events(registry: Registry, name: str) -> list[str]:
    """The watch's events, oldest first."""
    return [e.action for e in reversed(registry.events(name)) if e.action.startswith("watch-")]


def judged(registry: Registry, name: str) -> int:
    state = load_watch(registry, name)
    return 0 if state is None else state.judged


def promoted_over(
    registry: Registry, name: str, model_uri: str, folder: Path, **card: object
) -> tuple[str, str, float]:
    """v1 in production, then v2 promoted over it; returns both and when v2 entered production."""
    v1, v2 = production_and_candidate(registry, name, model_uri, folder, **card)
    api.promote(name, v2, "production", registry=registry)
    since = datetime.fromisoformat(registry.version(name, v2).tags[keys.PRODUCTION_AT]).timestamp()
    return v1, v2, since


def test_the_watch_key_is_a_duration_and_absent_means_none() -> None:
    assert parse_rollout_policy({"watch": "1h"}).watch_seconds == 3600
    assert parse_rollout_policy({}).watch_seconds == 0
    assert parse_rollout_policy({"models": {"m": {"watch": "90s"}}}, model="m").watch_seconds == 90
    with pytest.raises(PolicyError, match="watch: cannot read 'soon'"):
        parse_rollout_policy({"watch": "soon"})


def test_a_quiet_watch_after_a_rollout_ends_completed(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    write_policy(settings)
    v1, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    clock = FakeClock()
    start = clock.now
    record = store(settings)
    record.record_many(traffic("m", v1, "production", start - 480, 600, 1200))  # before the change, and during it
    record.record_many(traffic("m", v2, "canary", start, 120, 400))
    record.record_many(traffic("m", v2, "production", start + 121, 620, 1240))  # after completion, same figures
    steps.start(registry, "m", v2, clock=clock)

    result = driver.run(registry, "m", record, clock=clock, sleep=clock.sleep, poll_seconds=10)
    assert result.state is not None and result.state.status == "completed"
    assert result.watch is not None and result.watch.status == "completed", result.notes
    assert result.watch.version == v2 and result.watch.baseline == v1 and result.watch.trigger == "rollout"
    assert result.watch.outcome is not None and result.watch.outcome.startswith("quiet")
    assert result.watch.judged > 50  # judged every 10 s poll for 10 minutes
    assert clock.now - result.state.ended_at == pytest.approx(600, abs=11)  # the watch lasted its 10 minutes
    assert registry.aliases("m")["production"] == v2
    assert watch_events(registry, "m") == ["watch-start", "watch-end"]  # looks go into the state, not the history
    assert not [e for e in registry.events("m") if e.action == "rollback"]
    status = api.rollout_status("m", live=False, registry=registry)
    assert status.watch is not None and status.watch.status == "completed"


def test_a_breach_after_a_promote_rolls_back_with_the_watch_evidence(
    settings: Settings,
    registry: Registry,
    model_uri: str,
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_policy(settings)
    write_owners(settings, receiver.url, monkeypatch)
    v1, v2, since = promoted_over(registry, "m", model_uri, tmp_path)
    clock = FakeClock()
    record = store(settings)
    record.record_many(traffic("m", v1, "production", since - 600, 599, 600))
    record.record_many(traffic("m", v2, "production", clock.now + 1, 300, 600, error_every=10))  # 10 % errors

    result = watching.watch(registry, "m", record, clock=clock, sleep=clock.sleep, poll_seconds=10)
    state = result.state
    assert state is not None and state.status == "rolled-back", result.notes
    assert "error rate" in (state.outcome or "") and state.rollback is not None
    assert state.rollback["to_version"] == v1 and state.rollback["smoke_passed"] is True
    assert clock.now - state.started_at < 120  # at the first look with enough requests, not at the end
    assert registry.aliases("m")["production"] == v1
    assert registry.version("m", v2).tags[keys.STATUS] == "rolled-back"

    rollback = next(e for e in registry.events("m") if e.action == "rollback" and e.result == "completed")
    trigger = rollback.details["trigger"]
    assert trigger["by"] == "watch" and trigger["watch"]["version"] == v2
    assert trigger["evidence"]["after"]["errors"] > 0 and trigger["evidence"]["decision"] == "fail"
    assert rollback.details["smoke"]["passed"] is True and rollback.details["plan"]["to_version"] == v1
    assert watch_events(registry, "m") == ["watch-start", "watch-breach", "watch-end"]
    breach = next(e for e in registry.events("m") if e.action == "watch-breach")
    assert breach.details["evidence"]["after"]["error_rate"] == pytest.approx(0.1, abs=0.02)

    assert state.alert is not None and state.alert["delivered"] is True
    assert len(receiver.received) == 1  # the owner on duty heard it, once
    assert f"production v{v2} of m breached its watch" in receiver.received[0]["body"].decode()


def test_a_refused_rollback_leaves_production_and_alerts_the_owner(
    settings: Settings,
    registry: Registry,
    model_uri: str,
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_policy(settings)
    write_owners(settings, receiver.url, monkeypatch)
    v1, v2, since = promoted_over(registry, "m", model_uri, tmp_path, data_migrations=[IRREVERSIBLE])
    clock = FakeClock()
    record = store(settings)
    record.record_many(traffic("m", v1, "production", since - 600, 599, 600))
    record.record_many(traffic("m", v2, "production", clock.now + 1, 300, 600, latency_ms=40.0))  # 8x slower

    result = watching.watch(registry, "m", record, clock=clock, sleep=clock.sleep, poll_seconds=10)
    assert result.state is not None and result.state.status == "failed"
    assert "p99 latency" in (result.state.outcome or "") and "irreversible" in (result.state.outcome or "")
    assert registry.aliases("m")["production"] == v2  # an irreversible migration is a person's decision
    assert result.state.alert is not None and result.state.alert["delivered"] is True
    assert "mlgate rollback m" in receiver.received[0]["body"].decode()


def test_a_watch_killed_between_its_breach_and_the_rollback_finishes_it(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_policy(settings)
    v1, v2, since = promoted_over(registry, "m", model_uri, tmp_path)
    clock = FakeClock()
    record = store(settings)
    record.record_many(traffic("m", v1, "production", since - 600, 599, 600, predictions=[0]))
    record.record_many(traffic("m", v2, "production", clock.now + 1, 300, 600, predictions=[2]))  # all another class

    real_rollback = watching.rollback

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies right after recording the breach

    monkeypatch.setattr(watching, "rollback", killed)
    with pytest.raises(KeyboardInterrupt):
        watching.watch(registry, "m", record, clock=clock, sleep=clock.sleep, poll_seconds=10)
    stored = load_watch(registry, "m")
    assert stored is not None and stored.status == "breached" and "prediction PSI" in (stored.outcome or "")
    assert registry.aliases("m")["production"] == v2

    monkeypatch.setattr(watching, "rollback", real_rollback)
    result = watching.watch(registry, "m", record, clock=clock, sleep=clock.sleep, poll_seconds=10)
    assert result.state is not None and result.state.status == "rolled-back"
    assert any("not yet acted on" in n for n in result.notes)
    assert registry.aliases("m")["production"] == v1
    assert watch_events(registry, "m") == ["watch-start", "watch-breach", "watch-end"]
    assert [(e.action, e.result) for e in registry.events("m") if e.action == "rollback"] == [("rollback", "completed")]


def test_a_killed_watch_resumes_where_the_registry_says(cli_env: Settings, model_uri: str, tmp_path: Path) -> None:
    assert cli_env.config_dir is not None
    config = cli_env.config_dir / "mlgate.yaml"
    data = yaml.safe_load(config.read_text())
    data.update({"prediction_store_url": f"sqlite:///{tmp_path / 'predictions.db'}", "lock_ttl_seconds": 3})
    config.write_text(yaml.safe_dump(data))
    write_policy(cli_env, bake="2s", min_requests=10, watch="8s")
    settings = cli_env.with_overrides(prediction_store_url=data["prediction_store_url"], lock_ttl_seconds=3.0)
    registry = Registry.from_settings(settings)
    v1, v2, since = promoted_over(registry, "m", model_uri, tmp_path)
    record = store(settings)
    record.record_many(traffic("m", v1, "production", since - 60, 59, 600))
    record.record_many(traffic("m", v2, "production", time.time(), 60, 1200))  # 20 requests a second

    first = subprocess.Popen([MLGATE, "watch", "m", "--poll", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while judged(registry, "m") < 2:
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "the first watch never looked twice"
            time.sleep(0.1)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    killed = load_watch(registry, "m")
    assert killed is not None and killed.status == "watching"

    second = subprocess.run([MLGATE, "watch", "m", "--poll", "0.2"], capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resumed the watch" in second.stdout and "completed" in second.stdout
    done = load_watch(registry, "m")
    assert done is not None and done.status == "completed" and done.started_at == killed.started_at
    assert done.checks > killed.checks and done.ended_at is not None
    assert done.ended_at - done.started_at >= 8  # the whole period, counted from the first start (not restarted)
    assert watch_events(registry, "m") == ["watch-start", "watch-end"]

    status = CliRunner().invoke(main, ["rollout", "status", "m", "--no-live"])
    assert status.exit_code == 0 and f"watch m: v{v2} (production) against v{v1}" in status.output
    assert "completed -- quiet" in status.output
    again = CliRunner().invoke(main, ["watch", "m", "--json"])
    assert again.exit_code == 0 and "already ended" in json.loads(again.output)["notes"][0]


def test_watch_0_means_no_watch(cli_env: Settings, model_uri: str, tmp_path: Path) -> None:
    write_policy(cli_env, watch=0)
    registry = Registry.from_settings(cli_env)
    v1, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    clock = FakeClock()
    record = store(cli_env)
    record.record_many(traffic("m", v1, "production", clock.now, 200, 400))
    record.record_many(traffic("m", v2, "canary", clock.now, 200, 400))
    steps.start(registry, "m", v2, clock=clock)
    result = driver.run(registry, "m", record, clock=clock, sleep=clock.sleep, poll_seconds=10)
    assert result.state is not None and result.state.status == "completed" and result.watch is None
    assert keys.WATCH not in registry.model_tags("m") and watch_events(registry, "m") == []
    assert clock.now - result.state.started_at == pytest.approx(120, abs=15)  # it stopped at completion

    refused = CliRunner().invoke(main, ["watch", "m"])
    assert refused.exit_code == 2 and "no watch length" in refused.output and "Traceback" not in refused.output
    bad = CliRunner().invoke(main, ["watch", "m", "--for", "a while"])
    assert bad.exit_code == 2 and "not a duration" in bad.output


def test_no_production_or_no_previous_one_means_nothing_to_judge_against(
    settings: Settings, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    write_policy(settings)
    v1 = register(registry, "m", model_uri, tmp_path)
    with pytest.raises(TransitionRefused, match="no production version to watch"):
        watching.watch(registry, "m", store(settings))
    pass_gate(registry, "m", v1, "production")
    api.promote("m", v1, "production", registry=registry)
    with pytest.raises(TransitionRefused, match="no previous version's record"):
        watching.watch(registry, "m", store(settings))
    assert keys.WATCH not in registry.model_tags("m")
