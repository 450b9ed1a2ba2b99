"""The front door: one function per user action; the CLI and notebooks call these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlgate import heap
from mlgate.config import Settings, load_settings, redact_uri
from mlgate.config.durations import parse_duration
from mlgate.config.moments import parse_moment
from mlgate.contracts import load_contract
from mlgate.exceptions import UsageError
from mlgate.gate.engine import run_gate
from mlgate.gate.policy import STAGES
from mlgate.gate.report import store_report
from mlgate.monitor.run import MonitorOptions, run_pass
from mlgate.registry import Event, LockInfo, Registry, keys, states
from mlgate.registry.card import ModelCard, load_card
from mlgate.registry.pointintime import history_at, status_at
from mlgate.registry.timeline import AliasState
from mlgate.release import approvals
from mlgate.release import promote as promotion
from mlgate.release import register as registration
from mlgate.release.lint import FileCheck, check_compat_against, check_files
from mlgate.release.promote import PromotionResult
from mlgate.release.register import Registration
from mlgate.release.rollback.execute import RollbackResult
from mlgate.release.rollback.execute import rollback as run_rollback
from mlgate.release.rollback.runbook import runbook as make_runbook
from mlgate.release.rollout import driver
from mlgate.release.rollout import steps as rollout_steps
from mlgate.release.rollout.status import RolloutStatus
from mlgate.release.rollout.status import status as rollout_state
from mlgate.release.rollout.watch import WatchResult
from mlgate.release.rollout.watch import watch as run_watch
from mlgate.release.smoke.deploy import post_deploy_smoke
from mlgate.release.smoke.result import SmokeResult
from mlgate.serving import answered
from mlgate.serving.record import PredictionStore, default_store_url
from mlgate.traffic import TrafficRouter
from mlgate.training.reproduce import reproduce as run_reproduce


def connect(settings: Settings | None = None) -> Registry:
    """A Registry on the configured MLflow store (config file, then environment)."""
    registry = Registry.from_settings(settings or load_settings())
    heap.loaded()  # a command's imports are done: see mlgate/heap.py (a no-op outside the CLI)
    return registry


def _reg(registry: Registry | None) -> Registry:
    return registry if registry is not None else connect()


def register(
    name: str,
    model_uri: str,
    card: str | Path | ModelCard,
    contract: str | Path | None = None,
    registry: Registry | None = None,
) -> Registration:
    """Register a logged model as a new version with its model card (and data contract).

    The card (and contract) are checked before anything is written.
    """
    model_card = card if isinstance(card, ModelCard) else load_card(card)
    bound_contract = None if contract is None else load_contract(contract)
    return registration.register(_reg(registry), name, model_uri, model_card, bound_contract)


def promote(
    name: str,
    version: str | int,
    to: str,
    force: bool = False,
    reason: str | None = None,
    registry: Registry | None = None,
    router: TrafficRouter | None = None,
) -> PromotionResult:
    """Promote a version to staging or production (production needs a passing gate, or force + reason).

    Production traffic moves through ``router`` (default: the one mlgate.yaml names, see mlgate.traffic).
    """
    return promotion.promote(_reg(registry), name, str(version), to, force=force, reason=reason, router=router)


def rollback(
    name: str,
    to: str | int | None = None,
    reason: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    registry: Registry | None = None,
    accept_irreversible: bool = False,
    now: datetime | None = None,
    router: TrafficRouter | None = None,
) -> RollbackResult:
    """Answer the rollback checklist, move production back to the last known good (or ``to``), smoke-test it.

    ``dry_run`` only answers the checklist. Irreversible data migrations in between are refused
    unless ``accept_irreversible``. ``now`` picks the decision owner (default: the current time).
    Traffic moves through ``router`` (default: the configured one).
    """
    return run_rollback(
        _reg(registry),
        name,
        None if to is None else str(to),
        reason=reason,
        dry_run=dry_run,
        force=force,
        accept_irreversible=accept_irreversible,
        now=now,
        router=router,
    )


def smoke(
    name: str, version: str | int | None = None, registry: Registry | None = None, endpoint: str | None = None
) -> SmokeResult:
    """Smoke-test a version (default: production) the way a deployment is proven.

    Against ``endpoint`` (or the configured one) after waiting for it to serve the version; else in-process.
    """
    reg = _reg(registry)
    if version is None:
        version = reg.aliases(name).get(reg.settings.aliases.production)
        if version is None:
            raise UsageError(f"{name} has no production version", "pass --version")
    return post_deploy_smoke(reg, name, str(version), endpoint=endpoint)


@dataclass(frozen=True)
class StatusReport:
    """Every alias of a model, the last known good version, and each version's state."""

    model: str
    tracking_uri: str
    aliases: dict[str, str]
    last_known_good: str | None
    versions: list[states.VersionState]
    lock: LockInfo | None = None
    canary_weight: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    at: AliasState | None = None  # `status --at`: the moment, and the transition behind each alias

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tracking_uri": self.tracking_uri,
            "aliases": self.aliases,
            "last_known_good": self.last_known_good,
            "canary_weight": self.canary_weight,
            "lock": self.lock.__dict__ if self.lock else None,
            "versions": [v.__dict__ for v in self.versions],
            **({"at": self.at.to_dict()} if self.at is not None else {}),
            **self.extra,
        }


def status(name: str, registry: Registry | None = None, at: str | float | datetime | None = None) -> StatusReport:
    """Aliases, last known good, and each version's status and gate state; ``at`` (ISO-8601, "2h ago"): as they
    were then, from the history, with the transition behind each alias (``report.at``)."""
    reg = _reg(registry)
    names = reg.settings.aliases
    if at is not None:
        past = status_at(reg, name, parse_moment(at))
        uri, state = redact_uri(reg.settings.tracking_uri), past.state
        return StatusReport(name, uri, past.aliases, past.last_known_good, past.versions, None, past.weight, at=state)
    model = reg.model(name)
    aliases = {a: str(v) for a, v in (model.aliases or {}).items()}
    versions = reg.versions(name)
    lkg = states.last_known_good(versions, aliases.get(names.production))
    return StatusReport(
        model=name,
        tracking_uri=redact_uri(reg.settings.tracking_uri),
        aliases=aliases,
        last_known_good=str(lkg.version) if lkg else None,
        versions=[states.state_of(mv, aliases, names) for mv in versions],
        lock=reg.lock_info(name),
        canary_weight=(model.tags or {}).get(keys.CANARY_WEIGHT),
        extra={"approvals": approvals.summaries(reg, name, versions)},
    )


def history(name: str, registry: Registry | None = None, at: str | float | datetime | None = None) -> list[Event]:
    """Every transition of the model, newest first; ``at``: as the history read at that moment."""
    if at is not None:
        return history_at(_reg(registry), name, parse_moment(at))
    return _reg(registry).events(name)


def which(name: str, request_id: str, registry: Registry | None = None) -> answered.Answered:
    """Which version answered ``request_id`` (its X-Mlgate-Request-Id) and which transition put it there."""
    return answered.which(_reg(registry), name, request_id)


def approve(
    name: str, version: str | int, stage: str = "production", comment: str = "", registry: Registry | None = None
) -> approvals.ApprovalResult:
    """Approve a version for ``stage`` as the acting user (recorded on the version, in history and description)."""
    return approvals.decide(_reg(registry), name, str(version), stage, approvals.APPROVE, comment)


def reject(
    name: str, version: str | int, stage: str = "production", comment: str = "", registry: Registry | None = None
) -> approvals.ApprovalResult:
    """Reject a version for ``stage`` (``comment``: why); the stage stays blocked until a newer approval."""
    return approvals.decide(_reg(registry), name, str(version), stage, approvals.REJECT, comment)


# --- canary rollout and runbook (mlgate.release.rollout, mlgate.release.rollback) ---------------------------


def record_source(settings: Settings) -> Any:
    """The gateway's prediction record that canary analysis reads (mlgate.serving.record.PredictionStore)."""
    return PredictionStore(default_store_url(settings), getattr(settings, "prediction_retention_rows", 100_000))


def rollout_start(
    name: str,
    version: str | int,
    steps: str | list[float] | None = None,
    bake: str | float | None = None,
    reason: str | None = None,
    registry: Registry | None = None,
    force: bool = False,
    router: TrafficRouter | None = None,
) -> RolloutStatus:
    """Start a canary rollout of ``version`` at the first step's weight (it must pass the canary gate,
    unless ``force`` with a ``reason``, recorded as forced)."""
    seconds = None if bake is None else parse_duration(bake, "bake", error=UsageError)
    return rollout_steps.start(
        _reg(registry), name, str(version), steps=steps, bake_seconds=seconds, reason=reason, force=force, router=router
    )


def rollout_advance(
    name: str, reason: str | None = None, registry: Registry | None = None, router: TrafficRouter | None = None
) -> RolloutStatus:
    """Move the rollout to its next step now; past the last one the canary becomes production."""
    return rollout_steps.advance(_reg(registry), name, reason=reason, router=router)


def rollout_pause(name: str, reason: str | None = None, registry: Registry | None = None) -> RolloutStatus:
    """Hold the canary at its current weight until `rollout resume` (no traffic moves)."""
    return rollout_steps.pause(_reg(registry), name, reason=reason)


def rollout_resume(name: str, registry: Registry | None = None, router: TrafficRouter | None = None) -> RolloutStatus:
    """Continue a paused rollout; the current step bakes again from now."""
    return rollout_steps.resume(_reg(registry), name, router=router)


def rollout_abort(
    name: str, reason: str | None = None, registry: Registry | None = None, router: TrafficRouter | None = None
) -> RolloutStatus:
    """Send all traffic back to production and mark the canary failed."""
    return rollout_steps.abort(_reg(registry), name, reason=reason, router=router)


def rollout_status(
    name: str, live: bool = True, registry: Registry | None = None, router: TrafficRouter | None = None
) -> RolloutStatus:
    """The rollout's plan, current step, the router's view of traffic, figures (live from the gateway's record)
    and time to the next decision."""
    reg = _reg(registry)
    source = record_source(reg.settings) if live else None
    return rollout_state(reg, name, source=source, router=router)


def rollout_run(
    name: str,
    poll_seconds: float = 5.0,
    max_seconds: float | None = None,
    registry: Registry | None = None,
    source: Any = None,
    router: TrafficRouter | None = None,
) -> RolloutStatus:
    """Drive the rollout (analysis after each bake period; advance or abort) until it ends or pauses."""
    reg = _reg(registry)
    return driver.run(
        reg,
        name,
        source or record_source(reg.settings),
        router=router,
        poll_seconds=poll_seconds,
        max_seconds=max_seconds,
    )


def watch(
    name: str, duration: str | float | None = None, poll_seconds: float = 5.0, max_seconds: float | None = None,
    registry: Registry | None = None, source: Any = None, router: TrafficRouter | None = None,
) -> WatchResult:  # fmt: skip
    """Watch production (after a promote) for ``duration`` (default: rollout.yaml's ``watch``) against the previous
    version's record; a breach rolls back to the last known good. Resumes a watch that was stopped or killed."""
    reg = _reg(registry)
    seconds = None if duration is None else parse_duration(duration, "--for", error=UsageError)
    source = source or record_source(reg.settings)
    return run_watch(reg, name, source, seconds, router, poll_seconds=poll_seconds, max_seconds=max_seconds)


def runbook(name: str, now: datetime | None = None, registry: Registry | None = None) -> Any:
    """The rollback runbook of ``name`` as Markdown (the checklist's answers right now)."""
    return make_runbook(_reg(registry), name, now=now)


# --- the release gate (mlgate.gate) ----------------------------------------------------------


def check(
    name: str,
    version: str | int,
    stage: str = "production",
    store: bool = True,
    registry: Registry | None = None,
) -> Any:
    """Run the release gate of ``stage`` on a version; store its report on the version unless ``store=False``.

    Returns a ``mlgate.gate.GateReport`` (``.passed``, ``.results``, ``.to_dict()``; renders as an
    HTML table in a notebook). Raises PolicyError when the policy file is malformed.
    """
    if stage not in STAGES:
        raise UsageError(f"unknown stage {stage!r}", f"use one of: {', '.join(STAGES)}")
    reg = _reg(registry)
    report = run_gate(reg, name, str(version), stage)
    return store_report(reg, report) if store else report


# --- production monitoring (mlgate.monitor) --------------------------------------------------


def monitor(
    name: str,
    window: str | float = "1h",
    batch: str | Path | None = None,
    version: str | int | None = None,
    tests: tuple[str, ...] | None = None,
    report_dir: str | Path | None = None,
    alert: bool = True,
    progress: Any = None,
    score: bool = False,
    registry: Registry | None = None,
) -> Any:
    """One monitoring pass over the gateway's last ``window`` (or a CSV / Parquet ``batch``).

    Returns a ``mlgate.monitor.run.PassResult`` (``.signals``, ``.checks``, ``.firing``,
    ``.report_path``, ``.to_dict()``); breached rules of alerts.yaml go to the owner on duty.
    """
    options = MonitorOptions(
        window_seconds=parse_duration(window, "window", error=UsageError),
        batch=batch,
        version=None if version is None else str(version),
        tests=tests,
        report_dir=report_dir,
        alert=alert,
        progress=progress,
        score=score,
    )
    return run_pass(_reg(registry), name, options)


def reproduce(
    name: str,
    version: str | int,
    *,
    project_dir: str | Path = ".",
    seed: int | None = None,
    tolerance: float = 0.0,
    output: str | Path | None = None,
    strict: bool = False,
    registry: Registry | None = None,
) -> Any:
    """Retrieve a version's exact package and training record, diff the environment, re-run and compare.

    Returns a ``mlgate.reproduce.ReproduceReport``; ``reproduced`` is False (with ``reason``) when
    the training data, the entry point or the predictions do not match the record.
    """
    return run_reproduce(
        _reg(registry), name, str(version), project_dir=project_dir, seed=seed, tolerance=tolerance,
        output=output, strict=strict,
    )  # fmt: skip


def lint(paths: list[str | Path], kind: str, against: str | None = None) -> list[FileCheck]:
    """Check model cards, data contracts or policies offline, as mlgate will read them (no registry needed).

    With ``against`` (a git ref; contracts only) each contract must also accept every input its version at
    that ref accepted.
    """
    checked = check_files(paths, kind)
    if against is None:
        return checked
    if kind != "contract":
        raise UsageError("--against compares contracts only", "use it with --kind contract")
    return [c if not c.ok else compat for c, compat in zip(checked, check_compat_against(paths, against), strict=True)]
