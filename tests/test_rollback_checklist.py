"""`mlgate rollback` answers the whole rollback checklist before acting, on a real sqlite registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlgate import api
from mlgate.cli import main
from mlgate.config import Settings
from mlgate.exceptions import RollbackError
from mlgate.registry import Registry
from mlgate.release.rollout import state as rollout_state
from mlgate.release.rollout import steps
from tests.rollout_support import (
    IRREVERSIBLE,
    OWNER,
    SATURDAY_3H,
    WEDNESDAY_10H,
    pass_gate,
    production_and_candidate,
    register,
    write_owners,
)


def bad_release(registry: Registry, model_uri: str, folder: Path, **card: object) -> tuple[str, str]:
    """v1 production then v2 production (so v1 is last known good); v2's card may declare migrations."""
    v1, v2 = production_and_candidate(registry, "m", model_uri, folder, **card)
    api.promote("m", v2, "production", registry=registry)
    return v1, v2


MIGRATION = {"name": "add-column-score", "reversible": True, "description": "adds a nullable column"}


def test_dry_run_answers_every_question_and_changes_nothing(registry: Registry, model_uri: str, tmp_path: Path) -> None:
    write_owners(registry.settings)
    v1, v2 = bad_release(registry, model_uri, tmp_path, data_migrations=[MIGRATION])
    before = registry.aliases("m")
    result = api.rollback("m", dry_run=True, registry=registry, now=WEDNESDAY_10H)
    plan = result.plan
    assert (plan.from_version, plan.to_version) == (v2, v1)
    assert "last known good" in plan.why and "smoke test passed" in plan.why  # 1. why v1 qualifies
    assert "production" in plan.traffic and f"v{v1}" in plan.traffic  # 2. how traffic goes back
    assert plan.migrations == [{"version": v2, **MIGRATION}] and plan.irreversible == []  # 3.
    assert plan.decision_owner["person"] == "alice@example.com"  # 4. business hours
    assert plan.decision_owner["period"] == "business_hours"
    assert f"models:/m/{v1}" in plan.smoke_test or "smoke" in plan.smoke_test  # 5.
    assert registry.aliases("m") == before and result.smoke is None


def test_the_decision_owner_depends_on_the_time_of_day(registry: Registry, model_uri: str, tmp_path: Path) -> None:
    write_owners(registry.settings)
    bad_release(registry, model_uri, tmp_path)
    night = api.rollback("m", dry_run=True, registry=registry, now=SATURDAY_3H).plan.decision_owner
    assert night["person"] == "night-oncall" and night["period"] == "out_of_hours"
    assert night["escalation"] == "head-of-ml@example.com"


def test_without_owners_yaml_the_plan_says_what_is_missing(registry: Registry, model_uri: str, tmp_path: Path) -> None:
    bad_release(registry, model_uri, tmp_path)
    owner = api.rollback("m", dry_run=True, registry=registry).plan.decision_owner
    assert owner["owner"] == OWNER and "owners.yaml" in owner["summary"]


def test_an_irreversible_migration_is_refused_unless_accepted(
    registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    write_owners(registry.settings)
    v1, v2 = bad_release(registry, model_uri, tmp_path, data_migrations=[MIGRATION, IRREVERSIBLE])
    with pytest.raises(RollbackError, match="drop-legacy-table") as refused:
        api.rollback("m", registry=registry, now=WEDNESDAY_10H)
    assert "--accept-irreversible" in str(refused.value) and "alice@example.com" in str(refused.value)
    assert registry.aliases("m")["production"] == v2

    done = api.rollback("m", accept_irreversible=True, reason="bad scores", registry=registry, now=WEDNESDAY_10H)
    assert registry.aliases("m")["production"] == v1 and done.smoke is not None and done.smoke.passed
    event = registry.events("m")[0]
    assert event.action == "rollback" and event.details["accepted_irreversible"] == ["drop-legacy-table"]
    recorded = event.details["plan"]
    assert recorded["decision_owner"]["person"] == "alice@example.com"
    assert recorded["why"].startswith("last known good") and recorded["migrations"][1]["reversible"] is False
    assert event.details["smoke"]["passed"] is True


def test_rolling_back_twice_in_a_row_changes_nothing_the_second_time(
    registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    v1, _ = bad_release(registry, model_uri, tmp_path)
    api.rollback("m", registry=registry)
    count = len(registry.events("m"))
    again = api.rollback("m", registry=registry)
    assert again.action == "nothing" and f"already v{v1}" in again.plan.why
    assert "--to VERSION" in " ".join(again.notes)
    assert registry.aliases("m")["production"] == v1 and len(registry.events("m")) == count


def test_rollback_during_a_rollout_takes_the_canary_out_and_keeps_production(
    registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    v1, v2 = bad_release(registry, model_uri, tmp_path)
    v3 = register(registry, "m", model_uri, tmp_path)
    pass_gate(registry, "m", v3, "canary")
    steps.start(registry, "m", v3, steps="10,50,100")
    first = api.rollback("m", reason="alerts firing", registry=registry)
    assert first.action == "abort-rollout" and any(f"aborted the rollout of v{v3}" in n for n in first.notes)
    aliases = registry.aliases("m")
    assert aliases["production"] == v2 and "canary" not in aliases
    state = rollout_state.load_state(registry, "m")
    assert state is not None and state.status == "aborted"
    assert registry.events("m")[0].action == "rollback-canary"

    second = api.rollback("m", reason="production is bad too", registry=registry)
    assert second.action == "rollback" and registry.aliases("m")["production"] == v1


def test_the_cli_prints_the_checklist_and_takes_accept_irreversible(
    cli_env: Settings, model_uri: str, tmp_path: Path
) -> None:
    from mlgate.registry import Registry

    registry = Registry.from_settings(cli_env)
    write_owners(cli_env)
    v1, v2 = bad_release(registry, model_uri, tmp_path, data_migrations=[IRREVERSIBLE])
    runner = CliRunner()
    dry = runner.invoke(main, ["rollback", "m", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    for heading in ("Last known good", "How traffic goes back", "Data migrations", "Decision owner", "Smoke test"):
        assert heading in dry.output
    assert "IRREVERSIBLE" in dry.output and "nothing changed" in dry.output and f"v{v2} -> v{v1}" in dry.output
    refused = runner.invoke(main, ["rollback", "m"])
    assert refused.exit_code == 1 and "refused" in refused.output and "Traceback" not in refused.output
    done = runner.invoke(main, ["rollback", "m", "--accept-irreversible", "--reason", "incident 42"])
    assert done.exit_code == 0 and "smoke test passed" in done.output


def test_rollback_finishes_a_canary_abort_that_died_midway(registry: Registry, model_uri: str, tmp_path: Path) -> None:
    v1, v2 = production_and_candidate(registry, "m", model_uri, tmp_path)
    steps.start(registry, "m", v2, steps="10,100")
    state = rollout_state.load_state(registry, "m")
    assert state is not None
    state.status = "aborted"  # the abort wrote its state, then its process died before moving traffic
    rollout_state.save_state(registry, state)
    assert registry.aliases("m")["canary"] == v2
    result = api.rollback("m", registry=registry)
    assert result.action == "abort-rollout" and any("finished the abort" in n for n in result.notes)
    aliases = registry.aliases("m")
    assert aliases["production"] == v1 and "canary" not in aliases


def test_a_rollback_killed_after_moving_traffic_is_finished_by_the_next_one(
    registry: Registry, model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2 = bad_release(registry, model_uri, tmp_path)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies during the smoke test, after production moved

    monkeypatch.setattr("mlgate.release.production.post_deploy_smoke", killed)
    with pytest.raises(KeyboardInterrupt):
        api.rollback("m", reason="incident 9", registry=registry)
    started = registry.events("m")[0]
    assert (started.action, started.result) == ("rollback", "started")
    # production moved and v2 is marked rolled back: the checklist alone would find no target now
    assert registry.aliases("m")["production"] == v1
    assert registry.version("m", v2).tags["mlgate.status"] == "rolled-back"
    monkeypatch.undo()

    done = api.rollback("m", registry=registry)

    assert done.op_id == started.op_id and done.smoke is not None and done.smoke.passed
    finished = registry.events("m")[0]
    assert (finished.op_id, finished.result, finished.reason) == (started.op_id, "completed", "incident 9")
