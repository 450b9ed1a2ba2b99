"""Approve or reject a version for a stage: who may; recorded on the version, in the model's history and description."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import ApprovalRefused, PolicyError, UsageError
from mlgate.gate.checks.approval import (
    KNOWN_STAGES,
    NAME,
    Rule,
    Verdict,
    authors_of,
    evaluate,
    gate_failures,
    refusal,
    same,
    verdict_of,
)
from mlgate.gate.policy import Policy, load_policy
from mlgate.registry import Event, keys, utcnow
from mlgate.registry.approvals import (
    APPROVE,
    DECISIONS,
    MAX_COMMENT,
    REJECT,
    Decision,
    acting_user,
    decisions_for,
    refresh_description,
    stored_decisions,
    write_decision,
)

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlgate.registry import Registry

__all__ = ["APPROVE", "REJECT", "ApprovalResult", "decide", "summaries"]


@dataclass(frozen=True)
class ApprovalResult:
    """A recorded decision and what the stage's approvals add up to now."""

    model: str
    version: str
    decision: Decision
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        d = self.decision
        return {
            "model": self.model,
            "version": self.version,
            "stage": d.stage,
            "decision": d.decision,
            "by": d.by,
            "identity": d.identity,
            "at": d.at,
            "comment": d.comment,
            "policy_sha256": d.policy_sha256,
            "gate_report": d.gate_report,
            "tag": d.key,
            "approvals": {
                "counted": self.verdict.approvers,
                "required": self.verdict.required,
                "ok": self.verdict.ok,
                "rejected_by": self.verdict.rejection.by if self.verdict.rejection else None,
                "lapsed": [{"by": x.by, "why": why} for x, why in self.verdict.lapsed],
            },
        }

    def summary(self) -> str:
        """Two lines: the decision as recorded, and where the stage's approvals stand."""
        d = self.decision
        whom = "the MLflow server's authenticated user" if d.identity == "mlflow-auth" else "mlgate's actor"
        head = f"{self.model} v{self.version} {d.line()} ({d.by} is {whom})"
        if self.verdict.ok:
            then = f"{d.stage} may proceed: mlgate promote {self.model} {self.version} --to {d.stage}"
        elif self.verdict.rejection is not None:
            then = f"{d.stage} is blocked until a newer approval"
        else:
            then = f"{self.verdict.required - len(self.verdict.counted)} more approval(s) needed for {d.stage}"
        return f"{head}\n  approvals: {self.verdict.summary()} -- {then}"


def approval_rule(policy: Policy, stage: str) -> Rule | None:
    """The approval ``stage`` asks for under ``policy`` (None when it asks for none)."""
    for entry in policy.checks_for(stage):
        if entry.name == NAME and Rule.of(entry.params).applies_to(stage):
            return Rule.of(entry.params)
    return None


def _report_in_force(tags: dict[str, str], stage: str) -> dict[str, Any] | None:
    """The stage's last gate report on the version (what an approver has seen), or None."""
    path = tags.get(keys.gate_report_tag(stage))
    if not path:
        return None
    return {
        "path": path,
        "result": tags.get(keys.gate_tag(stage)),
        "at": tags.get(keys.gate_time_tag(stage)),
        "policy_sha256": tags.get(keys.gate_policy_hash_tag(stage)),
    }


def _complete(registry: Registry, name: str, mv: ModelVersion) -> None:
    """Write what a decision left unwritten when its process died midway: its event, the description."""
    version = str(mv.version)
    logged = {
        str((e.details or {}).get("decision"))
        for e in registry.events(name, version=version)
        if e.action.startswith(DECISIONS) and e.to_version == version
    }
    for d in decisions_for(registry, mv):
        if d.key not in logged:
            registry.record_event(
                Event(
                    action=f"{d.decision}-{d.stage}",
                    model=name,
                    to_version=version,
                    actor=d.by,
                    at=d.at,
                    reason=d.comment or None,
                    details={"decision": d.key, "identity": d.identity, "policy_sha256": d.policy_sha256},
                )
            )
    refresh_description(registry, name, version)


def _refuse_repeat(verdict: Verdict, decisions: list[Decision], who: str, decision: str, where: str) -> None:
    if decision == APPROVE:
        mine = next((d for d in verdict.counted if same(d.by, who)), None)
        if mine is not None:
            left = verdict.required - len(verdict.counted)
            raise ApprovalRefused(
                f"{mine.by} already approved {where} at {mine.at[:19].replace('T', ' ')} UTC, and it still counts",
                f"{left} more approval(s) needed, from someone else" if left > 0 else "nothing more to approve",
            )
    elif decisions and not decisions[-1].approves and same(decisions[-1].by, who):
        when = decisions[-1].at[:19].replace("T", " ")
        raise ApprovalRefused(
            f"{decisions[-1].by} already rejected {where} at {when} UTC, and it still stands",
            "a newer approval lifts it (mlgate approve)",
        )


def decide(
    registry: Registry, name: str, version: str, stage: str, decision: str, comment: str | None = None
) -> ApprovalResult:
    """Record ``decision`` (approve | reject) on ``version`` for ``stage`` as the acting user.

    Refused (nothing written) when the stage's policy asks for no approval, when the acting user
    may not decide under the policy (approvers, four eyes), or repeats a decision that still counts.
    The decision is one new version tag; then an event in the model's history and the "Approvals"
    section of the version's description. Safe to run again: a run finishes what a dead one left.
    """
    version, comment = str(version), " ".join((comment or "").split("\n")).strip()
    if decision not in DECISIONS:
        raise UsageError(f"unknown decision {decision!r}", f"use one of: {', '.join(DECISIONS)}")
    if stage not in KNOWN_STAGES:
        raise UsageError(f"unknown stage {stage!r}", f"use one of: {', '.join(KNOWN_STAGES)}")
    if decision == REJECT and not comment:
        raise UsageError("a rejection needs a comment saying why", 'e.g. --comment "waiting for the fairness review"')
    if len(comment) > MAX_COMMENT:
        raise UsageError(f"the comment has {len(comment)} characters", f"keep it under {MAX_COMMENT}")
    registry.version(name, version)  # fails early, naming the versions that exist
    policy = load_policy(registry.settings, name)
    rule = approval_rule(policy, stage)
    if rule is None:
        asking = [s for s in KNOWN_STAGES if approval_rule(policy, s) is not None]
        raise ApprovalRefused(
            f"the release policy of {name} asks for no approval before {stage}: there is nothing to {decision}",
            f"stages that ask for one: {', '.join(asking)}"
            if asking
            else f"add the `{NAME}` check to stages.{stage} in mlflow_config/policy.yaml to require one",
        )
    who, identity = acting_user(registry)
    where = f"{name} v{version} for {stage}"
    with registry.lock(name, f"{decision} v{version} for {stage}"):
        mv = registry.version(name, version)
        _complete(registry, name, mv)
        now = utcnow()
        why = refusal(rule, who, now, authors_of(registry, mv), registry.settings, approving=decision == APPROVE)
        if why is not None:
            raise ApprovalRefused(f"{where}: {why}", "ask someone the policy names (mlflow_config/policy.yaml)")
        tags = dict(mv.tags or {})
        before = verdict_of(registry, mv, stage, rule, policy.sha256)
        _refuse_repeat(before, decisions_for(registry, mv, stage), who, decision, where)
        record = Decision(
            decision, stage, who, now, comment, identity, policy.sha256, _report_in_force(tags, stage)
        )  # fmt: skip
        written = write_decision(registry, name, version, record)
        registry.record_event(
            Event(
                action=f"{decision}-{stage}",
                model=name,
                to_version=version,
                actor=who,
                at=written.at,
                reason=comment or None,
                details={"decision": written.key, "identity": identity, "policy_sha256": policy.sha256},
            )
        )
        refresh_description(registry, name, version)
        after = verdict_of(registry, registry.version(name, version), stage, rule, policy.sha256)
    return ApprovalResult(name, version, written, after)


def summaries(registry: Registry, name: str, versions: list[ModelVersion]) -> dict[str, str]:
    """version -> where its approvals stand (for `mlgate status`), for the versions anyone decided on."""
    stored = stored_decisions(registry, name)  # one search for every version
    decided = [(mv, mine) for mv in versions if (mine := decisions_for(registry, mv, stored=stored))]
    if not decided:
        return {}
    try:
        policy: Policy | None = load_policy(registry.settings, name)
    except PolicyError:
        policy = None  # status still shows the decisions, without judging them
    found = {}
    for mv, by_stage in decided:
        parts = []
        for stage in sorted({d.stage for d in by_stage}):
            rule = approval_rule(policy, stage) if policy is not None else None
            mine = [d for d in by_stage if d.stage == stage]
            if rule is None or policy is None:
                parts.append(f"{stage}: {mine[-1].decision}d by {mine[-1].by} (not asked for by the policy)")
                continue
            failures = gate_failures(registry.events(name, version=str(mv.version)), str(mv.version), stage)
            verdict = evaluate(rule, mine, policy.sha256, failures, authors_of(registry, mv), registry.settings, stage)
            parts.append(verdict.summary())
        found[str(mv.version)] = "; ".join(parts)
    return found
