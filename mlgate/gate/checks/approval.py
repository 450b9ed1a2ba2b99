"""The `approval` check: enough people allowed to sign off approved the version for the stage, and no rejection stands.

Policy parameters (all optional)::

    approval:
      stages: [production]            # the stages it applies to (default: every stage that lists it)
      min_approvals: 1                # distinct people
      approvers: owner_on_duty        # or anyone, or a named group {ml-leads: [alice, bob]}, or a list of these
      four_eyes: true                 # whoever registered or trained the version cannot approve it
      invalidate_on: [policy_change, new_gate_report]   # what makes earlier approvals lapse (default: both)

A rejection voids every earlier approval: only approvals made after the newest rejection count.
``policy_change``: an approval given under another policy hash lapses. ``new_gate_report``: an
approval lapses once a later gate report of the stage fails on any other check (a re-run that finds
the same does not: the approver saw those findings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlgate.alerts import on_duty
from mlgate.exceptions import ConfigError, MlgateError, PolicyError
from mlgate.gate.context import GateContext
from mlgate.gate.report import Outcome, failed, passed
from mlgate.gate.spec import CheckSpec, allowed_params, boolean
from mlgate.registry import keys
from mlgate.registry.approvals import Decision, decisions_for

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlgate.config import Settings
    from mlgate.registry import Event, Registry

AREA = "approvals"
NAME = "approval"
KNOWN_STAGES = ("staging", "canary", "production")
OWNER_ON_DUTY = "owner_on_duty"
ANYONE = "anyone"
POLICY_CHANGE = "policy_change"
NEW_GATE_REPORT = "new_gate_report"
INVALIDATORS = (POLICY_CHANGE, NEW_GATE_REPORT)


# --- the parameters ---------------------------------------------------------------------------------------
def _stages(value: Any, key: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or any(s not in KNOWN_STAGES for s in items):
        raise PolicyError(f"{key}: must list stages among {', '.join(KNOWN_STAGES)}, got {value!r}", "fix the list")
    return [str(s) for s in items]


def _min_approvals(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PolicyError(f"{key}: must be a whole number of at least 1, got {value!r}", "e.g. min_approvals: 2")
    return value


def _approvers(value: Any, key: str) -> list[Any]:
    hint = f"write {OWNER_ON_DUTY}, {ANYONE}, a named group such as {{ml-leads: [alice, bob]}}, or a list of these"
    checked: list[Any] = []
    for item in value if isinstance(value, list) else [value]:
        if item in (OWNER_ON_DUTY, ANYONE):
            checked.append(item)
        elif (
            isinstance(item, dict)
            and item
            and all(
                isinstance(people, list) and people and all(isinstance(p, str) and p.strip() for p in people)
                for people in item.values()
            )
        ):
            checked.append({str(group): [p.strip() for p in people] for group, people in item.items()})
        else:
            raise PolicyError(f"{key}: {item!r} names nobody who may approve", hint)
    if not checked:
        raise PolicyError(f"{key}: names nobody who may approve", hint)
    return checked


def _invalidate_on(value: Any, key: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or any(i not in INVALIDATORS for i in items):
        raise PolicyError(f"{key}: must list some of {', '.join(INVALIDATORS)}, got {value!r}", "or write []")
    return [str(i) for i in items]


@dataclass(frozen=True)
class Rule:
    """The approval a stage asks for, from the check's parameters."""

    stages: tuple[str, ...] | None = None
    min_approvals: int = 1
    approvers: tuple[Any, ...] = (ANYONE,)
    four_eyes: bool = False
    invalidate_on: tuple[str, ...] = INVALIDATORS

    @classmethod
    def of(cls, params: dict[str, Any]) -> Rule:
        return cls(
            stages=tuple(params["stages"]) if params.get("stages") else None,
            min_approvals=int(params.get("min_approvals", 1)),
            approvers=tuple(params.get("approvers") or (ANYONE,)),
            four_eyes=bool(params.get("four_eyes", False)),
            invalidate_on=tuple(params.get("invalidate_on", INVALIDATORS)),
        )

    def applies_to(self, stage: str) -> bool:
        return self.stages is None or stage in self.stages


# --- who may decide ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Authors:
    """Who the version belongs to and who made it: the owner (card), the registrant, the trainer, the creator."""

    owner: str | None = None
    registered_by: str | None = None
    trained_by: str | None = None
    created_by: str | None = None


def authors_of(registry: Registry, mv: ModelVersion) -> Authors:
    """The version's owner and makers, read from its tags, its MLflow creator and its training run's user."""
    tags = mv.tags or {}
    trained_by = None
    if mv.run_id:
        try:
            trained_by = registry.run(str(mv.run_id)).info.user_id or None
        except MlgateError:
            trained_by = None  # a deleted run: four-eyes still knows the registrant
    return Authors(tags.get(keys.OWNER), tags.get(keys.REGISTERED_BY), trained_by, getattr(mv, "user_id", None))


def same(a: str | None, b: str | None) -> bool:
    """Whether two user names are the same person (case and surrounding spaces ignored)."""
    return bool(a and b) and str(a).strip().casefold() == str(b).strip().casefold()


def _moment(at: str | None) -> datetime:
    try:
        moment = datetime.fromisoformat(str(at))
    except ValueError:
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def owner_on_duty(settings: Settings, owner: str | None, at: str | None = None) -> tuple[str | None, str]:
    """(the person on duty for ``owner`` at ``at`` per owners.yaml, or None; how to say it)."""
    if not owner:
        return None, "the owner on duty (the version names no owner)"
    try:
        duty = on_duty(settings, owner, _moment(at))
    except ConfigError as exc:
        return None, f"the owner on duty for {owner} (none: {exc.message})"
    return duty.person, f"the owner on duty for {owner} ({duty.person} {'then' if at else 'now'})"


def approvers_text(rule: Rule, authors: Authors, settings: Settings, at: str | None = None) -> str:
    """Who may approve under ``rule``, in words."""
    parts = []
    for item in rule.approvers:
        if item == ANYONE:
            parts.append("anyone with EDIT on the model")
        elif item == OWNER_ON_DUTY:
            parts.append(owner_on_duty(settings, authors.owner, at)[1])
        else:
            parts += [f"group {group} ({', '.join(people)})" for group, people in item.items()]
    return " or ".join(parts)


def refusal(rule: Rule, who: str, at: str | None, authors: Authors, settings: Settings, approving: bool) -> str | None:
    """Why ``who`` may not approve (``approving``) or reject under ``rule`` at ``at``; None when they may."""
    if approving and rule.four_eyes:
        for made, person in (("registered", authors.registered_by), ("trained", authors.trained_by)):
            if same(person, who):
                return f"{who} {made} this version, and the policy asks for four eyes: someone else must approve"
        if same(authors.created_by, who):
            return f"{who} created this version in MLflow, and the policy asks for four eyes: someone else must approve"
    for item in rule.approvers:
        if item == ANYONE:
            return None
        if item == OWNER_ON_DUTY and same(owner_on_duty(settings, authors.owner, at)[0], who):
            return None
        if isinstance(item, dict) and any(same(p, who) for people in item.values() for p in people):
            return None
    verb = "approve" if approving else "reject"
    return f"{who} may not {verb}: the policy names {approvers_text(rule, authors, settings, at)}"


# --- what the decisions add up to -------------------------------------------------------------------------
@dataclass
class Verdict:
    """The approvals that count for a stage, the rejection in force, and the approvals that lapsed (and why)."""

    stage: str
    required: int
    counted: list[Decision] = field(default_factory=list)
    rejection: Decision | None = None
    lapsed: list[tuple[Decision, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return len(self.counted) >= self.required

    @property
    def approvers(self) -> list[str]:
        return [d.by for d in self.counted]

    def summary(self) -> str:
        """One line: approved n/m by whom, or rejected, or what is missing."""
        names = f" ({', '.join(self.approvers)})" if self.counted else ""
        text = f"{self.stage}: {len(self.counted)}/{self.required} approved{names}"
        if self.rejection is not None and not self.ok:
            text = f"{self.stage}: REJECTED by {self.rejection.by}" + (
                f", then {len(self.counted)}/{self.required} approved{names}" if self.counted else ""
            )
        if self.lapsed:
            text += f"; {len(self.lapsed)} lapsed"
        return text


def gate_failures(events: list[Event], version: str, stage: str) -> list[tuple[str, list[str]]]:
    """(when, failed checks other than approval) of each failing gate report of ``version`` for ``stage``."""
    found = []
    for event in events:
        if event.action != f"gate-{stage}" or str(event.to_version) != str(version):
            continue
        others = [str(c) for c in (event.details or {}).get("failed") or [] if c != NAME]
        if others:
            found.append((event.at, others))
    return found


def evaluate(
    rule: Rule,
    decisions: list[Decision],
    policy_sha256: str,
    failures: list[tuple[str, list[str]]],
    authors: Authors,
    settings: Settings,
    stage: str,
) -> Verdict:
    """Fold a stage's decisions (oldest first) into a Verdict under ``rule`` and the policy in force."""
    verdict = Verdict(stage, rule.min_approvals)
    start = 0
    for i, d in enumerate(decisions):
        if not d.approves:
            verdict.rejection, start = d, i + 1  # a rejection voids every approval before it
    for d in decisions[start:]:
        why: str | None
        later = sorted({c for at, failed_checks in failures if at > d.at for c in failed_checks})
        if POLICY_CHANGE in rule.invalidate_on and policy_sha256 and d.policy_sha256 != policy_sha256:
            why = "given under another release policy"
        elif NEW_GATE_REPORT in rule.invalidate_on and later:
            why = f"a later {stage} gate report failed on {', '.join(later)}"
        else:
            why = refusal(rule, d.by, d.at, authors, settings, approving=True)
        if why is not None:
            verdict.lapsed.append((d, why))
        elif not any(same(d.by, c.by) for c in verdict.counted):
            verdict.counted.append(d)
    return verdict


def verdict_of(registry: Registry, mv: ModelVersion, stage: str, rule: Rule, policy_sha256: str) -> Verdict:
    """The Verdict for one version, read from the registry (its decisions, the model's history, its authors)."""
    failures = gate_failures(registry.events(mv.name, version=str(mv.version)), str(mv.version), stage)
    decisions = decisions_for(registry, mv, stage)
    return evaluate(rule, decisions, policy_sha256, failures, authors_of(registry, mv), registry.settings, stage)


# --- the check --------------------------------------------------------------------------------------------
def approval(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """Enough people allowed to approve signed the version off for this stage, and no rejection stands."""
    rule = Rule.of(params)
    if not rule.applies_to(ctx.stage):
        return passed(f"approvals are asked for {', '.join(rule.stages or ())} only, not {ctx.stage}")
    verdict = verdict_of(ctx.registry, ctx.model_version, ctx.stage, rule, ctx.policy_sha256)
    lapsed = "; ".join(f"{d.by}'s approval lapsed: {why}" for d, why in verdict.lapsed)
    details = {"approvers": verdict.approvers, "lapsed": [d.by for d, _ in verdict.lapsed]}
    if verdict.ok:
        who = ", ".join(f"{d.by} ({d.at[:16].replace('T', ' ')})" for d in verdict.counted)
        return passed(f"approved by {who}: {len(verdict.counted)} of {verdict.required} required", **details)
    who_may = approvers_text(rule, authors_of(ctx.registry, ctx.model_version), ctx.settings)
    todo = f"`mlgate approve {ctx.name} {ctx.version} --stage {ctx.stage}` by {who_may}"
    have = f"{len(verdict.counted)} of {verdict.required} approvals" + (
        f" ({', '.join(verdict.approvers)})" if verdict.counted else ""
    )
    if verdict.rejection is not None:
        evidence = f"{verdict.rejection.line()}; since then {have}"
        return failed(evidence + (f"; {lapsed}" if lapsed else ""), f"a newer approval lifts it: {todo}", **details)
    evidence = f"{have} for {ctx.stage}" + (f"; {lapsed}" if lapsed else "")
    return failed(evidence, f"{'approve again' if lapsed else 'approve'}: {todo}", **details)


SPECS: tuple[CheckSpec, ...] = (
    CheckSpec(
        NAME,
        AREA,
        approval,
        allowed_params(
            stages=_stages,
            min_approvals=_min_approvals,
            approvers=_approvers,
            four_eyes=boolean,
            invalidate_on=_invalidate_on,
        ),
    ),
)
