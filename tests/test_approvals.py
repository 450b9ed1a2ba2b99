"""Approvals on a real sqlite registry: the gate blocks production until the right people sign off."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from backends import AuthServer, credentials, server_settings
from click.testing import CliRunner, Result

from mlgate import api
from mlgate.alerts import on_duty
from mlgate.cli import main
from mlgate.config import Settings
from mlgate.exceptions import ApprovalRefused, GateFailed, PermissionDenied, PolicyError, UsageError, VersionNotFound
from mlgate.gate import gate_record, policy_hash
from mlgate.registry import Registry, keys
from mlgate.registry.approvals import APPROVE, Decision, decisions_for, decisions_of, write_decision
from mlgate.registry.card import stored_card

NAME = "credit-risk"
OWNER = "ml-platform@example.com"  # the test card's owner
OWNERS = {
    "timezone": "UTC",
    "targets": {"hook": {"kind": "json", "url": "http://127.0.0.1:9/alerts"}},
    "owners": {
        OWNER: {
            "business_hours": {"person": "dana@example.com", "targets": ["hook"]},
            "out_of_hours": {"person": "night-owl@example.com", "targets": ["hook"]},
        }
    },
}
VERDICT_CHECK = """
from pathlib import Path

from mlgate.gate import failed, passed


def fairness_review(ctx, params):
    verdict = Path(params["verdict_file"]).read_text().strip()
    if verdict == "ok":
        return passed("the fairness review signed the version off")
    return failed(f"the fairness review says {verdict}", "wait for the review")
"""


def write_policy(settings: Settings, production: list[Any], checks: dict[str, Any] | None = None) -> Path:
    assert settings.config_dir is not None
    path = settings.config_dir / "policy.yaml"
    stages = {"staging": ["card_complete"], "canary": ["card_complete"], "production": production}
    data = {"checks": checks or {}, "stages": stages}
    path.write_text(yaml.safe_dump(data))
    return path


def as_person(registry: Registry, person: str) -> Registry:
    """The same registry, used by ``person`` (mlgate's actor on a store without basic-auth)."""
    return Registry(registry.client, registry.settings.with_overrides(actor=person))


def approval(**params: Any) -> dict[str, Any]:
    return {"approval": params}


def result_of(report: Any, check: str = "approval") -> Any:
    return next(r for r in report.results if r.name == check)


@pytest.fixture
def reg(registry: Registry) -> Registry:
    assert registry.settings.config_dir is not None
    (registry.settings.config_dir / "owners.yaml").write_text(yaml.safe_dump(OWNERS))
    return registry


@pytest.fixture
def version(reg: Registry, model_uri: str, card_path: Path) -> str:
    """A version registered by `tester` (the fixtures' actor)."""
    return api.register(NAME, model_uri, card_path, registry=reg).version


def test_production_is_refused_without_approval_and_allowed_once_the_owner_on_duty_approves(
    reg: Registry, version: str
) -> None:
    write_policy(reg.settings, ["card_complete", approval(approvers="owner_on_duty", four_eyes=True)])
    with pytest.raises(GateFailed) as refused:
        api.promote(NAME, version, "production", registry=reg)
    assert "approval: 0 of 1 approvals for production" in str(refused.value)
    assert "production" not in reg.aliases(NAME)

    on_duty_now = on_duty(reg.settings, OWNER).person
    off_duty = ({"dana@example.com", "night-owl@example.com"} - {on_duty_now}).pop()
    with pytest.raises(ApprovalRefused, match=f"{off_duty} may not approve: the policy names the owner on duty"):
        api.approve(NAME, version, comment="lgtm", registry=as_person(reg, off_duty))

    approved = api.approve(NAME, version, comment="reviewed the gate report", registry=as_person(reg, on_duty_now))
    assert approved.verdict.ok and approved.decision.by == on_duty_now and approved.decision.identity == "settings"
    assert approved.decision.gate_report is not None and approved.decision.gate_report["result"] == "failed"

    promoted = api.promote(NAME, version, "production", registry=reg)
    assert promoted.gate == "passed" and reg.aliases(NAME)["production"] == version
    report = api.check(NAME, version, "production", registry=reg)
    assert result_of(report).status == "pass"
    assert f"approved by {on_duty_now}" in result_of(report).evidence
    assert result_of(report).details["approvers"] == [on_duty_now]

    described = reg.version(NAME, version).description or ""
    assert described.startswith("Logistic regression")  # the card stays; the section follows it
    assert f"### Approvals\n- ✅ approved for production by {on_duty_now}" in described
    assert '"reviewed the gate report"' in described
    event = next(e for e in api.history(NAME, registry=reg) if e.action == "approve-production")
    assert (event.actor, event.to_version, event.reason) == (on_duty_now, version, "reviewed the gate report")
    assert api.status(NAME, registry=reg).extra["approvals"] == {version: f"production: 1/1 approved ({on_duty_now})"}


def test_a_rollout_waits_before_production_until_the_version_is_approved(
    reg: Registry, version: str, model_uri: str, card_path: Path
) -> None:
    write_policy(reg.settings, ["card_complete", approval()])
    api.promote(NAME, version, "production", force=True, reason="the first release, before approvals", registry=reg)
    candidate = api.register(NAME, model_uri, card_path, registry=reg).version
    api.rollout_start(NAME, candidate, steps="50", registry=reg)  # the canary gate asks for no approval
    state = api.rollout_advance(NAME, registry=reg).state  # 100 %: the canary would become production
    assert state is not None and state.status == "paused", state
    assert "cannot complete" in (state.outcome or "") and "approval" in (state.outcome or "")
    assert reg.aliases(NAME)["production"] == version

    api.approve(NAME, candidate, registry=as_person(reg, "alice"))
    api.rollout_resume(NAME, registry=reg)
    state = api.rollout_advance(NAME, registry=reg).state
    assert state is not None and state.status == "completed", state
    assert reg.aliases(NAME)["production"] == candidate


def test_four_eyes_refuses_whoever_registered_or_trained_the_version(reg: Registry, version: str) -> None:
    write_policy(reg.settings, [approval(approvers="anyone", four_eyes=True)])
    with pytest.raises(ApprovalRefused, match="tester registered this version, and the policy asks for four eyes"):
        api.approve(NAME, version, registry=reg)  # `tester` registered it
    trainer = reg.run(str(reg.version(NAME, version).run_id)).info.user_id
    with pytest.raises(ApprovalRefused, match=f"(?i){trainer} trained this version"):
        api.approve(NAME, version, registry=as_person(reg, trainer.upper()))  # names compare without case
    assert decisions_of(dict(reg.version(NAME, version).tags)) == []  # nothing was written
    assert api.approve(NAME, version, registry=as_person(reg, "erin")).verdict.ok


def test_enough_distinct_approvers_of_the_named_group_are_needed_and_nobody_approves_twice(
    reg: Registry, version: str
) -> None:
    write_policy(reg.settings, [approval(min_approvals=2, approvers={"risk-committee": ["alice", "bob"]})])
    api.approve(NAME, version, registry=as_person(reg, "alice"))
    report = api.check(NAME, version, "production", registry=reg)
    assert not report.passed and "1 of 2 approvals (alice)" in result_of(report).evidence

    with pytest.raises(
        ApprovalRefused, match=r"alice already approved credit-risk v1 for production at .* still counts"
    ):
        api.approve(NAME, version, registry=as_person(reg, "Alice"))
    with pytest.raises(ApprovalRefused, match=r"carol may not approve: the policy names group risk-committee \(alice"):
        api.approve(NAME, version, registry=as_person(reg, "carol"))

    assert api.approve(NAME, version, registry=as_person(reg, "bob")).verdict.approvers == ["alice", "bob"]
    report = api.check(NAME, version, "production", registry=reg)
    assert (
        report.passed and "approved by alice (" in result_of(report).evidence and "bob (" in result_of(report).evidence
    )


def test_a_rejection_blocks_promotion_until_a_newer_approval(reg: Registry, version: str) -> None:
    write_policy(reg.settings, ["card_complete", approval()])
    api.approve(NAME, version, registry=as_person(reg, "alice"))
    assert api.check(NAME, version, "production", registry=reg).passed  # a passing report is now on record

    with pytest.raises(UsageError, match="a rejection needs a comment"):
        api.reject(NAME, version, registry=as_person(reg, "bob"))
    rejected = api.reject(NAME, version, comment="wait for the Q3 data", registry=as_person(reg, "bob"))
    assert not rejected.verdict.ok and rejected.verdict.rejection is not None
    assert not gate_record(reg, NAME, version, "production").passed  # the passing report no longer counts
    with pytest.raises(GateFailed) as refused:
        api.promote(NAME, version, "production", registry=reg)
    assert "rejected for production by bob at" in str(refused.value) and "wait for the Q3 data" in str(refused.value)
    assert api.status(NAME, registry=reg).extra["approvals"][version] == "production: REJECTED by bob"

    api.approve(NAME, version, comment="Q3 data checked", registry=as_person(reg, "alice"))  # her first one was voided
    assert api.promote(NAME, version, "production", registry=reg).gate == "passed"
    described = reg.version(NAME, version).description or ""
    assert described.count("- ✅ approved") == 2 and described.count("- ❌ rejected for production by bob") == 1
    actions = [e.action for e in api.history(NAME, registry=reg)]
    assert actions.index("approve-production") < actions.index("reject-production")  # newest first


def test_a_policy_change_invalidates_earlier_approvals_where_the_policy_says_so(reg: Registry, version: str) -> None:
    policy = write_policy(reg.settings, ["card_complete", approval()])
    api.approve(NAME, version, registry=as_person(reg, "alice"))
    assert api.check(NAME, version, "production", registry=reg).passed

    policy.write_text(policy.read_text() + "# min accuracy raised after the audit\n")
    report = api.check(NAME, version, "production", registry=reg)
    assert not report.passed
    assert "alice's approval lapsed: given under another release policy" in result_of(report).evidence
    assert "approve again" in result_of(report).action
    api.approve(NAME, version, registry=as_person(reg, "alice"))  # not a repeat: her first one lapsed
    assert api.check(NAME, version, "production", registry=reg).passed

    write_policy(reg.settings, ["card_complete", approval(invalidate_on=[])])
    assert api.check(NAME, version, "production", registry=reg).passed  # this policy keeps approvals


def test_a_later_gate_report_that_fails_invalidates_and_a_confirming_one_does_not(
    reg: Registry, version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "review_checks.py").write_text(VERDICT_CHECK)
    monkeypatch.syspath_prepend(str(tmp_path))
    verdict = tmp_path / "verdict.txt"
    verdict.write_text("ok")
    write_policy(reg.settings, [{"review_checks:fairness_review": {"verdict_file": str(verdict)}}, approval()])
    api.approve(NAME, version, registry=as_person(reg, "alice"))
    assert api.check(NAME, version, "production", registry=reg).passed
    assert api.check(NAME, version, "production", registry=reg).passed  # a re-run with the same findings

    verdict.write_text("biased against one group")
    assert [r.name for r in api.check(NAME, version, "production", registry=reg).failures] == [
        "review_checks:fairness_review"
    ]
    verdict.write_text("ok")  # fixed, but alice approved what she saw before the failure
    report = api.check(NAME, version, "production", registry=reg)
    assert not report.passed
    assert "a later production gate report failed on review_checks:fairness_review" in result_of(report).evidence
    api.approve(NAME, version, registry=as_person(reg, "alice"))
    assert api.check(NAME, version, "production", registry=reg).passed


def test_a_stage_without_approval_a_missing_version_and_a_run_that_died_midway(reg: Registry, version: str) -> None:
    write_policy(reg.settings, [approval(stages=["production"])])
    with pytest.raises(ApprovalRefused, match="asks for no approval before staging") as refused:
        api.approve(NAME, version, stage="staging", registry=as_person(reg, "alice"))
    assert refused.value.hint == "stages that ask for one: production"
    with pytest.raises(VersionNotFound, match="has no version '7'"):
        api.approve(NAME, "7", registry=as_person(reg, "alice"))
    write_policy(reg.settings, [approval(approvers="the boss")])
    with pytest.raises(PolicyError, match=r"stages.production\[0\] \(approval\).approvers: 'the boss' names nobody"):
        api.approve(NAME, version, registry=as_person(reg, "alice"))
    write_policy(reg.settings, [approval(stages=["production"])])

    # a process that wrote its decision and died before the event and the description
    write_decision(
        reg, NAME, version, Decision(APPROVE, "production", "alice", policy_sha256=policy_hash(reg.settings, NAME))
    )
    with pytest.raises(ApprovalRefused, match="alice already approved"):
        api.approve(NAME, version, registry=as_person(reg, "alice"))  # …and the run again finishes the records
    assert "approved for production by alice" in (reg.version(NAME, version).description or "")
    assert [e.actor for e in api.history(NAME, registry=reg) if e.action == "approve-production"] == ["alice"]


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_the_command_line_records_decisions_and_exits_1_or_2_with_one_line_errors(
    cli_env: Settings, registry: Registry, model_uri: str, card_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_policy(cli_env, ["card_complete", approval(approvers={"leads": ["alice", "bob"]})])
    version = api.register(NAME, model_uri, card_path, registry=registry).version
    monkeypatch.setenv("MLGATE_ACTOR", "alice")

    done = run_cli("approve", NAME, version, "--comment", "gate report read")
    assert done.exit_code == 0, done.output
    assert f"{NAME} v{version} approved for production by alice at" in done.output
    assert "approvals: production: 1/1 approved (alice) -- production may proceed" in done.output

    failures = {
        ("approve", NAME, "9"): (1, "has no version '9'"),
        ("approve", NAME, version, "--stage", "staging"): (1, "asks for no approval before staging"),
        ("approve", NAME, version): (1, "alice already approved credit-risk v1 for production"),
        ("approve", NAME, version, "--stage", "prod"): (2, "Invalid value for '--stage'"),
        ("reject", NAME, version): (2, "a rejection needs a comment"),
    }
    for args, (code, message) in failures.items():
        result = run_cli(*args)
        assert (result.exit_code, message in result.output) == (code, True), (args, result.output)
        assert "Traceback" not in result.output and result.output.lower().count("error:") == 1

    monkeypatch.setenv("MLGATE_ACTOR", "bob")
    rejected = run_cli("reject", NAME, version, "--comment", "bias review pending", "--json")
    assert rejected.exit_code == 0, rejected.output
    data = json.loads(rejected.output)
    assert (data["decision"], data["by"], data["identity"], data["approvals"]["ok"]) == (
        "reject",
        "bob",
        "settings",
        False,
    )
    assert data["tag"].startswith(keys.APPROVAL_PREFIX + "production.")

    status = run_cli("status", NAME)
    assert "approvals" in status.output and "production: REJECTED by bob" in status.output
    history = run_cli("history", NAME)
    assert "reject-production" in history.output and "bias review pending" in history.output
    assert "approve-production" in history.output


def test_on_a_basic_auth_server_the_decision_is_the_authenticated_users_whatever_mlgate_actor_says(
    auth_server: AuthServer, tmp_path: Path, card_path: Path
) -> None:
    name = f"approved-{uuid.uuid4().hex[:6]}"
    config = tmp_path / "cfg"
    with credentials(auth_server.admin, auth_server.admin_password):
        admin = Registry.from_settings(server_settings(auth_server.url, config, actor="admin"))
        logged = admin.client.create_logged_model(admin.client.create_experiment(f"approvals-{name}"), name="model")
        version = api.register(name, f"models:/{logged.model_id}", card_path, registry=admin).version
    write_policy(admin.settings, [approval(approvers="anyone", four_eyes=True)])
    auth_server.create_user(reviewer := f"reviewer-{name[-6:]}", "reviewer-password-1")
    auth_server.grant(reviewer, name, "EDIT")
    auth_server.create_user(reader := f"reader-{name[-6:]}", "reader-password-1")  # default permission: READ

    claims_admin = admin.settings.with_overrides(actor="admin")  # MLGATE_ACTOR names someone else
    with credentials(reviewer, "reviewer-password-1"):
        approved = api.approve(name, version, comment="ok", registry=Registry.from_settings(claims_admin))
    assert (approved.decision.by, approved.decision.identity) == (reviewer, "mlflow-auth")
    assert f"({reviewer} is the MLflow server's authenticated user)" in approved.summary()

    with credentials(auth_server.admin, auth_server.admin_password):
        innocent = Registry.from_settings(admin.settings.with_overrides(actor="somebody-else"))
        with pytest.raises(ApprovalRefused, match="admin registered this version"):
            api.approve(name, version, registry=innocent)  # four eyes sees through the actor setting
    with credentials(reader, "reader-password-1"), pytest.raises(PermissionDenied):
        api.reject(name, version, comment="no", registry=Registry.from_settings(claims_admin))
    auth_server.create_user(second := f"second-{name[-6:]}", "second-password-1")
    auth_server.grant(second, name, "EDIT")
    with credentials(second, "second-password-1"):
        api.approve(name, version, comment="also ok", registry=Registry.from_settings(claims_admin))
    with credentials(auth_server.admin, auth_server.admin_password):
        # the first decision created mlgate-approvals/<model> (its creator owns it); the second approver may not
        # write there: that decision went to the old tag home, and both are read as usual
        assert [d.by for d in decisions_of(dict(admin.version(name, version).tags))] == [second]
        assert [d.by for d in decisions_for(admin, admin.version(name, version))] == [reviewer, second]
        card, problems = stored_card(admin, admin.version(name, version))  # the card file, through the server
        assert card is not None and problems == [], problems
