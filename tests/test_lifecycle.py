"""Register, promote and roll back on a real sqlite MLflow: aliases, tags, history and last known good."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate import api
from mlgate.exceptions import CardError, GateFailed, RollbackError, UsageError
from mlgate.gate import policy_hash
from mlgate.registry import Registry, keys
from tests.rollout_support import pass_gate


def register(registry: Registry, uri: str, card: Path, n: int = 1, name: str = "m") -> list[str]:
    return [api.register(name, uri, card, registry=registry).version for _ in range(n)]


def force(registry: Registry, version: str, name: str = "m") -> None:
    api.promote(name, version, "production", force=True, reason="test", registry=registry)


def test_register_stores_the_card_where_the_mlflow_ui_shows_it(
    registry: Registry, model_uri: str, card_path: Path, tmp_path: Path
) -> None:
    result = api.register("m", model_uri, card_path, registry=registry)
    mv = registry.version("m", result.version)
    assert mv.tags[keys.OWNER] == "ml-platform@example.com"
    assert mv.tags[keys.STATUS] == "candidate"
    assert "Owner" in mv.description
    card_file = registry.download_version_artifact(
        "m", result.version, keys.version_artifact("m", result.version, keys.CARD_ARTIFACT), tmp_path / "dl"
    )
    assert "intended_use" in card_file.read_text()
    assert [e.action for e in api.history("m", registry=registry)] == ["register"]


def test_a_bad_card_writes_nothing(registry: Registry, model_uri: str, tmp_path: Path) -> None:
    bad = tmp_path / "card.yaml"
    bad.write_text("owner: someone\n")
    with pytest.raises(CardError):
        api.register("m", model_uri, bad, registry=registry)
    assert registry.model_names() == []


def test_production_needs_a_passing_gate_or_force_with_reason(
    registry: Registry, model_uri: str, card_path: Path
) -> None:
    (v1,) = register(registry, model_uri, card_path)
    with pytest.raises(GateFailed, match="never run"):
        api.promote("m", v1, "production", registry=registry)
    with pytest.raises(UsageError, match="--reason"):
        api.promote("m", v1, "production", force=True, registry=registry)
    assert "production" not in registry.aliases("m")
    result = api.promote("m", v1, "production", force=True, reason="first release", registry=registry)
    assert result.forced and "FORCED" in result.gate
    assert result.smoke is not None and result.smoke.passed
    event = api.history("m", registry=registry)[0]
    assert (event.action, event.result, event.reason) == ("promote-production", "completed", "first release")
    assert event.details["forced"] is True


def test_a_passing_gate_record_under_the_current_policy_allows_promotion(
    registry: Registry, model_uri: str, card_path: Path
) -> None:
    (v1,) = register(registry, model_uri, card_path)
    registry.set_version_tag("m", v1, keys.gate_tag("production"), "passed")
    registry.set_version_tag("m", v1, keys.gate_policy_hash_tag("production"), "an-older-policy")
    with pytest.raises(GateFailed, match="another policy"):
        api.promote("m", v1, "production", registry=registry)
    registry.set_version_tag("m", v1, keys.gate_policy_hash_tag("production"), policy_hash(registry.settings))
    result = api.promote("m", v1, "production", registry=registry)
    assert result.gate == "passed" and not result.forced


def test_promote_then_rollback_to_last_known_good(registry: Registry, model_uri: str, card_path: Path) -> None:
    v1, v2 = register(registry, model_uri, card_path, 2)
    force(registry, v1)
    with pytest.raises(GateFailed):  # every stage is gated: staging too
        api.promote("m", v2, "staging", registry=registry)
    pass_gate(registry, "m", v2, "staging")
    api.promote("m", v2, "staging", registry=registry)
    assert registry.aliases("m")["staging"] == v2
    force(registry, v2)
    aliases = registry.aliases("m")
    assert aliases["production"] == v2 and aliases["last-known-good"] == v1
    assert "staging" not in aliases  # v2 moved on from staging

    plan = api.rollback("m", dry_run=True, registry=registry)
    assert (plan.plan.from_version, plan.plan.to_version) == (v2, v1)
    assert registry.aliases("m")["production"] == v2  # dry run changed nothing

    result = api.rollback("m", reason="bad predictions", registry=registry)
    assert result.smoke is not None and result.smoke.passed
    assert registry.aliases("m")["production"] == v1
    assert "last-known-good" not in registry.aliases("m")  # v2 was rolled back: not good
    tags = registry.version("m", v2).tags
    assert tags[keys.STATUS] == "rolled-back" and tags[keys.ROLLED_BACK_REASON] == "bad predictions"
    status = api.status("m", registry=registry)
    assert {v.version: v.status for v in status.versions} == {v1: "production", v2: "rolled-back"}
    actions = [(e.action, e.from_version, e.to_version) for e in api.history("m", registry=registry)]
    assert actions[0] == ("rollback", v2, v1)


def test_rollback_without_last_known_good_is_refused(registry: Registry, model_uri: str, card_path: Path) -> None:
    (v1,) = register(registry, model_uri, card_path)
    with pytest.raises(RollbackError, match="no production version"):
        api.rollback("m", registry=registry)
    force(registry, v1)
    with pytest.raises(RollbackError, match="no last known good"):
        api.rollback("m", registry=registry)
    assert registry.aliases("m")["production"] == v1


def test_rollback_to_a_version_that_never_held_production_needs_force(
    registry: Registry, model_uri: str, card_path: Path
) -> None:
    v1, v2, v3 = register(registry, model_uri, card_path, 3)
    force(registry, v1)
    force(registry, v2)
    with pytest.raises(RollbackError, match="never held production"):
        api.rollback("m", to=v3, registry=registry)
    result = api.rollback("m", to=v3, force=True, registry=registry)
    assert "--force" in result.plan.why
    assert registry.aliases("m")["production"] == v3


def test_promoting_the_production_version_again_is_a_no_op(registry: Registry, model_uri: str, card_path: Path) -> None:
    (v1,) = register(registry, model_uri, card_path)
    force(registry, v1)
    again = api.promote("m", v1, "production", force=True, reason="again", registry=registry)
    assert not again.changed
    assert registry.aliases("m") == {"production": v1}


def test_an_interrupted_rollback_is_finished_not_reversed(registry: Registry, model_uri: str, card_path: Path) -> None:
    """A rollback that died after moving the alias is completed by the next run, not undone."""
    from mlgate.registry import Event

    v1, v2 = register(registry, model_uri, card_path, 2)
    force(registry, v1)
    force(registry, v2)
    plan = api.rollback("m", dry_run=True, registry=registry).plan
    registry.record_event(
        Event(action="rollback", model="m", from_version=v2, to_version=v1, result="started",
              details={"plan": plan.to_dict()})
    )  # fmt: skip
    registry.set_alias("m", "production", v1)  # ...and then the process died
    result = api.rollback("m", registry=registry)
    assert (result.plan.from_version, result.plan.to_version) == (v2, v1)
    assert registry.aliases("m")["production"] == v1
    assert registry.version("m", v2).tags[keys.STATUS] == "rolled-back"
    rollbacks = [e for e in api.history("m", registry=registry) if e.action == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0].result == "completed"


def test_a_failing_smoke_test_is_recorded_and_exits_with_an_error(
    registry: Registry, model_uri: str, card_path: Path, tmp_path: Path
) -> None:
    from mlflow.artifacts import download_artifacts

    from mlgate.exceptions import SmokeTestFailed
    from mlgate.registry import mlflow_uris

    with mlflow_uris(registry.settings):
        local = Path(download_artifacts(artifact_uri=model_uri, dst_path=str(tmp_path / "pkg")))
    v1 = api.register("m", str(local), card_path, registry=registry).version  # a model served from a folder
    (v2,) = register(registry, model_uri, card_path)
    force(registry, v1)
    force(registry, v2)
    for f in local.glob("model.*"):  # the folder loses its model file: v1 no longer loads
        f.unlink()
    with pytest.raises(SmokeTestFailed, match="smoke test failed"):
        api.rollback("m", registry=registry)
    event = api.history("m", registry=registry)[0]
    assert event.action == "rollback" and event.result == "failed"
    assert event.details["smoke"]["passed"] is False
    assert registry.version("m", v1).tags[keys.SMOKE] == "failed"


def test_top_level_functions_stay_functions_once_their_modules_are_loaded() -> None:
    import mlgate
    import mlgate.release.rollback.execute
    from mlgate import api
    from mlgate.release.rollback.runbook import runbook  # noqa: F401

    assert mlgate.rollback is api.rollback
    assert mlgate.runbook is api.runbook
    assert callable(mlgate.promote) and callable(mlgate.monitor)


def test_a_read_once_view_reads_the_model_once_until_it_writes(
    registry: Registry, model_uri: str, card_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgate.registry.states import ReadOnce

    register(registry, model_uri, card_path, n=2)
    reads: list[str] = []
    real = registry.client.get_registered_model

    def counted(name: str) -> object:
        reads.append(name)
        return real(name)

    monkeypatch.setattr(registry.client, "get_registered_model", counted)
    reading = ReadOnce(registry)
    assert reading.aliases("m") == {} and reading.model_tags("m") is not None
    assert reading.aliases("m") == {}
    assert len(reads) == 1  # three questions, one read
    reading.set_alias("m", "staging", "2")  # a write through the view: the next question reads again
    assert reading.aliases("m") == {"staging": "2"}
    assert registry.aliases("m") == {"staging": "2"}
