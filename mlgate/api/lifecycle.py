"""Register, gate, promote, approve, roll back, smoke-test, reproduce and lint: one function per action."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from mlgate.api.session import registry_or_connect
from mlgate.contracts import load_contract
from mlgate.exceptions import UsageError
from mlgate.gate.engine import run_gate
from mlgate.gate.policy import STAGES
from mlgate.gate.report import store_report
from mlgate.registry import Registry
from mlgate.registry.card import ModelCard, load_card
from mlgate.release import approvals
from mlgate.release import promote as promotion
from mlgate.release import register as registration
from mlgate.release.lint import FileCheck, check_compat_against, check_files
from mlgate.release.promote import PromotionResult
from mlgate.release.register import Registration
from mlgate.release.rollback.execute import RollbackResult
from mlgate.release.rollback.execute import rollback as run_rollback
from mlgate.release.smoke.deploy import post_deploy_smoke
from mlgate.release.smoke.result import SmokeResult
from mlgate.traffic import TrafficRouter
from mlgate.training.reproduce import reproduce as run_reproduce


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
    return registration.register(registry_or_connect(registry), name, model_uri, model_card, bound_contract)


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
    return promotion.promote(
        registry_or_connect(registry), name, str(version), to, force=force, reason=reason, router=router
    )


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
        registry_or_connect(registry),
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
    reg = registry_or_connect(registry)
    if version is None:
        version = reg.aliases(name).get(reg.settings.aliases.production)
        if version is None:
            raise UsageError(f"{name} has no production version", "pass --version")
    return post_deploy_smoke(reg, name, str(version), endpoint=endpoint)


def approve(
    name: str, version: str | int, stage: str = "production", comment: str = "", registry: Registry | None = None
) -> approvals.ApprovalResult:
    """Approve a version for ``stage`` as the acting user (recorded on the version, in history and description)."""
    return approvals.decide(registry_or_connect(registry), name, str(version), stage, approvals.APPROVE, comment)


def reject(
    name: str, version: str | int, stage: str = "production", comment: str = "", registry: Registry | None = None
) -> approvals.ApprovalResult:
    """Reject a version for ``stage`` (``comment``: why); the stage stays blocked until a newer approval."""
    return approvals.decide(registry_or_connect(registry), name, str(version), stage, approvals.REJECT, comment)


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
    reg = registry_or_connect(registry)
    report = run_gate(reg, name, str(version), stage)
    return store_report(reg, report) if store else report


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
        registry_or_connect(registry), name, str(version), project_dir=project_dir, seed=seed, tolerance=tolerance,
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
