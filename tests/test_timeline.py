"""Point in time: which version held each alias at a moment (`status/history --at`), and `mlgate which`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from rollout_support import production_and_candidate, store
from serving_helpers import rows, split_body

from mlgate import api
from mlgate.cli import main
from mlgate.config import Settings
from mlgate.exceptions import ModelNotFound, NotRecorded, UsageError
from mlgate.registry import Event, Registry
from mlgate.serving import running_gateway
from mlgate.serving.app import REQUEST_ID_HEADER

NAME = "timeline-model"


def tick() -> float:
    """A moment strictly between the operation before and the one after."""
    time.sleep(0.02)
    moment = time.time()
    time.sleep(0.02)
    return moment


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


@pytest.fixture
def story(registry: Registry, model_uri: str, tmp_path: Path) -> dict[str, float]:
    """v1 in production, a canary of v2 at 10 % then 50 %, v2 completed into production, rolled back to v1."""
    v1, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
    assert (v1, v2) == ("1", "2")
    moments = {"v1": tick()}
    api.rollout_start(NAME, v2, steps="10,50", registry=registry)
    moments["canary10"] = tick()
    api.rollout_advance(NAME, registry=registry)
    moments["canary50"] = tick()
    api.rollout_advance(NAME, registry=registry)  # past the last step: v2 becomes production
    moments["v2"] = tick()
    api.rollback(NAME, reason="conversion dropped", registry=registry)
    moments["back"] = tick()
    return moments


def test_status_at_each_moment_shows_the_aliases_and_the_transition_behind_them(
    registry: Registry, story: dict[str, float]
) -> None:
    def at(key: str) -> api.StatusReport:
        return api.status(NAME, registry=registry, at=story[key])

    first = at("v1")
    assert first.aliases == {"production": "1"} and first.canary_weight is None
    assert first.at is not None and first.at.set_by["production"].action == "promote-production"

    canary = at("canary10")
    assert canary.aliases == {"production": "1", "canary": "2"} and canary.canary_weight == "10"
    assert canary.at is not None and canary.at.set_by["canary"].action == "rollout-start"
    assert at("canary50").canary_weight == "50"

    promoted = at("v2")
    assert promoted.aliases == {"production": "2", "last-known-good": "1"}
    assert promoted.at is not None and promoted.at.set_by["production"].action == "rollout-complete"
    assert {v.version: v.status for v in promoted.versions} == {"1": "archived", "2": "production"}

    back = at("back")
    assert back.aliases["production"] == "1" and "canary" not in back.aliases
    assert back.at is not None and back.at.set_by["production"].action == "rollback"
    assert {v.version: v.status for v in back.versions} == {"1": "production", "2": "rolled-back"}

    # The fold of the history agrees with the registry as it is now.
    assert api.status(NAME, registry=registry, at="now").aliases == registry.aliases(NAME)


def test_history_at_is_the_history_as_it_read_then(registry: Registry, story: dict[str, float]) -> None:
    then = api.history(NAME, registry=registry, at=story["canary10"])
    assert then[0].action == "rollout-start"
    assert "rollback" not in {e.action for e in then}
    assert len(then) < len(api.history(NAME, registry=registry))


def test_an_operation_that_died_midway_shows_as_under_way(registry: Registry, story: dict[str, float]) -> None:
    registry.record_event(
        Event(action="promote-production", model=NAME, from_version="1", to_version="2", result="started")
    )
    report = api.status(NAME, registry=registry, at=time.time())
    assert report.at is not None
    assert [t.action for t in report.at.in_progress] == ["promote-production"]
    assert report.aliases["production"] == "1"  # where the history last put it for certain


def test_status_and_history_at_on_the_command_line(cli_env: Settings, story: dict[str, float]) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["status", NAME, "--at", iso(story["canary50"])])
    assert out.exit_code == 0, out.output
    assert "canary           v2 at 50%" in out.output and "rollout-step" in out.output

    zoned = datetime.fromtimestamp(story["v2"], UTC).astimezone().isoformat()  # a zone given: honoured
    out = runner.invoke(main, ["status", NAME, "--at", zoned, "--json"])
    assert out.exit_code == 0 and '"production": "2"' in out.output

    out = runner.invoke(main, ["history", NAME, "--at", iso(story["canary10"])])
    assert out.exit_code == 0, out.output
    assert "production v1, canary v2 at 10%" in out.output and "rollback" not in out.output

    since_back = int(time.time() - story["back"])  # whole seconds: the moment is after the rollback, however fast
    relative = runner.invoke(main, ["status", NAME, "--at", f"{since_back} seconds ago", "--json"])
    assert relative.exit_code == 0, relative.output
    assert '"production": "1"' in relative.output


@pytest.mark.parametrize("moment", ["yesterday-ish", "2025-13-45", "3 fortnights ago", "2999-01-01"])
def test_a_malformed_or_future_time_is_a_usage_error(cli_env: Settings, story: dict[str, float], moment: str) -> None:
    out = CliRunner().invoke(main, ["status", NAME, "--at", moment])
    assert out.exit_code == 2, out.output
    assert "Invalid value for '--at'" in out.output and "Traceback" not in out.output
    with pytest.raises(UsageError):
        api.status(NAME, at=moment)


def test_a_time_before_the_model_existed_is_an_error(cli_env: Settings, story: dict[str, float]) -> None:
    out = CliRunner().invoke(main, ["history", NAME, "--at", "2020-01-01"])
    assert out.exit_code == 1, out.output
    assert "did not exist yet at 2020-01-01" in out.output and "Traceback" not in out.output
    with pytest.raises(ModelNotFound):
        api.status(NAME, at="2020-01-01T00:00:00")


def test_which_names_the_version_and_the_transition_from_the_record(
    cli_env: Settings, registry: Registry, story: dict[str, float]
) -> None:
    record = store(cli_env)
    record.record(NAME, "2", "canary", 200, 4.0, ts=story["canary50"], request_id="req-canary")
    record.record(NAME, "2", "production", 200, 4.0, ts=story["v2"], request_id="req-v2")
    record.record(NAME, "2", "production", 200, 4.0, ts=story["back"], request_id="req-lagging")
    record.record(NAME, "2", "production", 200, 4.0, ts=story["canary10"], request_id="req-pinned")
    record.close()

    canary = api.which(NAME, "req-canary", registry=registry)
    assert (canary.version, canary.route) == ("2", "canary")
    assert canary.transition is not None and canary.transition.action == "rollout-step"
    assert canary.state.canary_weight == 50

    promoted = api.which(NAME, "req-v2", registry=registry)
    assert promoted.transition is not None and promoted.transition.action == "rollout-complete"

    pinned = api.which(NAME, "req-pinned", registry=registry)  # v2's pinned pool behind HAProxy: route production
    assert pinned.transition is not None and pinned.transition.action == "rollout-start", pinned.notes
    assert not any("no transition" in note or "already" in note for note in pinned.notes), pinned.notes

    lagging = api.which(NAME, "req-lagging", registry=registry)  # a gateway that had not polled yet
    assert any("already v1" in note for note in lagging.notes), lagging.notes

    out = CliRunner().invoke(main, ["which", NAME, "req-canary"])
    assert out.exit_code == 0, out.output
    assert "answered by v2 on route canary" in out.output and "put there by rollout-step v1 -> v2" in out.output

    missing = CliRunner().invoke(main, ["which", NAME, "no-such-request"])
    assert missing.exit_code == 1 and "no request 'no-such-request'" in missing.output
    assert "X-Mlgate-Request-Id" in missing.output and "Traceback" not in missing.output
    with pytest.raises(NotRecorded):
        api.which("another-model", "req-canary", registry=registry)


def test_which_answers_for_a_request_a_real_gateway_served(
    cli_env: Settings, registry: Registry, story: dict[str, float]
) -> None:
    with running_gateway(registry, NAME, poll_seconds=0.2) as url:
        answer = requests.post(f"{url}/invocations", json=split_body(rows(2)), timeout=10)
        assert answer.status_code == 200
        request_id = answer.headers[REQUEST_ID_HEADER]
        assert url.gateway.recorder is not None and url.gateway.recorder.flush()
    found = api.which(NAME, request_id, registry=registry)
    assert (found.version, found.route, found.rows) == ("1", "production", 2)
    assert found.transition is not None and found.transition.action == "rollback"
    out = CliRunner().invoke(main, ["which", NAME, request_id, "--json"])
    assert out.exit_code == 0 and '"action": "rollback"' in out.output


def test_a_shadow_step_shows_as_the_shadow_alias_until_the_first_canary_step(
    registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    _, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
    api.rollout_start(NAME, v2, steps="shadow,50", registry=registry)
    mirrored = tick()
    api.rollout_advance(NAME, registry=registry)
    canary = tick()
    during = api.status(NAME, registry=registry, at=mirrored)
    assert during.aliases == {"production": "1", "shadow": v2} and during.canary_weight is None
    after = api.status(NAME, registry=registry, at=canary)
    assert after.aliases == {"production": "1", "canary": v2} and after.canary_weight == "50"
    assert api.status(NAME, registry=registry, at="now").aliases == registry.aliases(NAME)
