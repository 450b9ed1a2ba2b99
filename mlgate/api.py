"""The front door: one function per user action; the CLI and notebooks call these."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlgate import heap
from mlgate.config import Settings, load_settings, redact_uri
from mlgate.registry import Event, LockInfo, Registry, keys, states
from mlgate.registry.card import ModelCard, load_card
from mlgate.release.promote import PromotionResult
from mlgate.release.rollback.execute import RollbackResult
from mlgate.release.smoke.checks import SmokeResult


def connect(settings: Settings | None = None) -> Registry:
    """A Registry on the configured MLflow store (config file, then environment)."""
    registry = Registry.from_settings(settings or load_settings())
    heap.loaded()  # a command's imports are done: see mlgate/heap.py (a no-op outside the CLI)
    return registry


def _reg(registry: Registry | None) -> Registry:
    return registry if registry is not None else connect()


@dataclass(frozen=True)
class Registration:
    """A newly registered version and what was stored with it."""

    model: str
    version: str
    card: ModelCard
    contract: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "card": self.card.to_dict(), "contract": self.contract}


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
    bound_contract = None
    if contract is not None:
        from mlgate.contracts import load_contract

        bound_contract = load_contract(contract)
    reg = _reg(registry)
    tags = {**model_card.to_tags(), keys.STATUS: states.CANDIDATE, keys.REGISTERED_BY: reg.settings.actor}
    if bound_contract is not None:
        tags.update(bound_contract.to_tags())
    mv = reg.create_version(name, model_uri, tags, model_card.to_markdown())
    version = str(mv.version)
    with tempfile.TemporaryDirectory(prefix="mlgate-register-") as tmp:
        card_file = Path(tmp) / Path(keys.CARD_ARTIFACT).name
        card_file.write_text(model_card.to_yaml())
        reg.log_version_artifact(name, version, card_file, keys.version_artifact_dir(name, version))
        if bound_contract is not None:
            contract_file = Path(tmp) / Path(keys.CONTRACT_ARTIFACT).name
            contract_file.write_text(bound_contract.source_text)
            reg.log_version_artifact(name, version, contract_file, keys.version_artifact_dir(name, version))
    details: dict[str, Any] = {"model_uri": model_uri, "owner": model_card.owner}
    if bound_contract is not None:
        details["contract"] = f"{bound_contract.name}@{bound_contract.version}"
    reg.record_event(
        Event(action="register", model=name, to_version=version, actor=reg.settings.actor, details=details)
    )
    return Registration(name, version, model_card, bound_contract.summary() if bound_contract else None)


def promote(
    name: str,
    version: str | int,
    to: str,
    force: bool = False,
    reason: str | None = None,
    registry: Registry | None = None,
) -> PromotionResult:
    """Promote a version to staging or production (production needs a passing gate, or force + reason)."""
    from mlgate.release import promote as promotion

    return promotion.promote(_reg(registry), name, str(version), to, force=force, reason=reason)


def rollback(
    name: str,
    to: str | int | None = None,
    reason: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    registry: Registry | None = None,
    accept_irreversible: bool = False,
    now: datetime | None = None,
) -> RollbackResult:
    """Answer the rollback checklist, move production back to the last known good (or ``to``), smoke-test it.

    ``dry_run`` only answers the checklist. Irreversible data migrations in between are refused
    unless ``accept_irreversible``. ``now`` picks the decision owner (default: the current time).
    """
    from mlgate.release.rollback.execute import rollback as run_rollback

    return run_rollback(
        _reg(registry),
        name,
        None if to is None else str(to),
        reason=reason,
        dry_run=dry_run,
        force=force,
        accept_irreversible=accept_irreversible,
        now=now,
    )


def smoke(
    name: str, version: str | int | None = None, registry: Registry | None = None, endpoint: str | None = None
) -> SmokeResult:
    """Smoke-test a version (default: production) the way a deployment is proven.

    Against ``endpoint`` (or the configured one) after waiting for it to serve the version; else in-process.
    """
    from mlgate.exceptions import UsageError
    from mlgate.release.smoke.checks import post_deploy_smoke

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tracking_uri": self.tracking_uri,
            "aliases": self.aliases,
            "last_known_good": self.last_known_good,
            "canary_weight": self.canary_weight,
            "lock": self.lock.__dict__ if self.lock else None,
            "versions": [v.__dict__ for v in self.versions],
            **self.extra,
        }


def status(name: str, registry: Registry | None = None) -> StatusReport:
    """Aliases, last known good, and each version's status and gate state."""
    reg = _reg(registry)
    names = reg.settings.aliases
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
    )


def history(name: str, registry: Registry | None = None) -> list[Event]:
    """Every transition of the model, newest first."""
    return _reg(registry).events(name)


# --- canary rollout and runbook (mlgate.canary, mlgate.runbook) ---------------------------


def record_source(settings: Settings) -> Any:
    """The gateway's prediction record that canary analysis reads (mlgate.serving.record.PredictionStore)."""
    from mlgate.serving.record import PredictionStore, default_store_url

    return PredictionStore(default_store_url(settings), getattr(settings, "prediction_retention_rows", 100_000))


def rollout_start(
    name: str,
    version: str | int,
    steps: str | list[float] | None = None,
    bake: str | float | None = None,
    reason: str | None = None,
    registry: Registry | None = None,
    force: bool = False,
) -> Any:
    """Start a canary rollout of ``version`` at the first step's weight (it must pass the canary gate,
    unless ``force`` with a ``reason``, recorded as forced)."""
    from mlgate.release.rollout import driver
    from mlgate.release.rollout.policy import parse_duration

    seconds = None if bake is None else parse_duration(bake, "--bake")
    return driver.start(
        _reg(registry), name, str(version), steps=steps, bake_seconds=seconds, reason=reason, force=force
    )


def rollout_advance(name: str, reason: str | None = None, registry: Registry | None = None) -> Any:
    """Move the rollout to its next step now; past the last one the canary becomes production."""
    from mlgate.release.rollout import driver

    return driver.advance(_reg(registry), name, reason=reason)


def rollout_pause(name: str, reason: str | None = None, registry: Registry | None = None) -> Any:
    """Hold the canary at its current weight until `rollout resume`."""
    from mlgate.release.rollout import driver

    return driver.pause(_reg(registry), name, reason=reason)


def rollout_resume(name: str, registry: Registry | None = None) -> Any:
    """Continue a paused rollout; the current step bakes again from now."""
    from mlgate.release.rollout import driver

    return driver.resume(_reg(registry), name)


def rollout_abort(name: str, reason: str | None = None, registry: Registry | None = None) -> Any:
    """Send all traffic back to production and mark the canary failed."""
    from mlgate.release.rollout import driver

    return driver.abort(_reg(registry), name, reason=reason)


def rollout_status(name: str, live: bool = True, registry: Registry | None = None) -> Any:
    """The rollout's plan, current step, figures (live from the gateway's record) and time to the next decision."""
    from mlgate.release.rollout import driver

    reg = _reg(registry)
    source = record_source(reg.settings) if live else None
    return driver.status(reg, name, source=source)


def rollout_run(
    name: str,
    poll_seconds: float = 5.0,
    max_seconds: float | None = None,
    registry: Registry | None = None,
    source: Any = None,
) -> Any:
    """Drive the rollout (analysis after each bake period; advance or abort) until it ends or pauses."""
    from mlgate.release.rollout import driver

    reg = _reg(registry)
    return driver.run(
        reg, name, source or record_source(reg.settings), poll_seconds=poll_seconds, max_seconds=max_seconds
    )


def runbook(name: str, now: datetime | None = None, registry: Registry | None = None) -> Any:
    """The rollback runbook of ``name`` as Markdown (the checklist's answers right now)."""
    from mlgate.release.rollback.runbook import runbook as make_runbook

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
    from mlgate.exceptions import UsageError
    from mlgate.gate.engine import run_gate
    from mlgate.gate.policy import STAGES
    from mlgate.gate.report import store_report

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
    from mlgate.alerts.routing import parse_duration
    from mlgate.monitor.run import MonitorOptions, run_pass

    options = MonitorOptions(
        window_seconds=parse_duration(window, "--window"),
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
    from mlgate.training.reproduce import reproduce as run

    return run(
        _reg(registry), name, str(version), project_dir=project_dir, seed=seed, tolerance=tolerance,
        output=output, strict=strict,
    )  # fmt: skip
