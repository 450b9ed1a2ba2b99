"""The checklist engine: run a stage's checks on a version, collect their evidence, never print."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.exceptions import MissingExtraError, MlgateError
from mlgate.gate.builtin import BUILTIN
from mlgate.gate.context import Evaluation, GateContext, RecordMissing, compute_metrics
from mlgate.gate.policy import CheckEntry, Policy, load_policy
from mlgate.gate.report import PASS, CheckResult, GateReport, Outcome
from mlgate.registry import utcnow
from mlgate.stats.metrics import HIGHER_IS_BETTER

if TYPE_CHECKING:
    from mlgate.registry import Registry

__all__ = [
    "BUILTIN",
    "HIGHER_IS_BETTER",
    "Evaluation",
    "GateContext",
    "RecordMissing",
    "compute_metrics",
    "run_check",
    "run_gate",
]


def run_check(ctx: GateContext, entry: CheckEntry) -> CheckResult:
    """Run one check; a missing record fails it, anything it raises is reported as its error."""
    started = time.perf_counter()
    try:
        outcome = entry.fn(ctx, dict(entry.params))
        if isinstance(outcome, bool):
            outcome = Outcome(PASS if outcome else "fail", f"{entry.name} returned {outcome}")
        if not isinstance(outcome, Outcome):
            raise TypeError(f"a check must return mlgate.gate.Outcome or a bool, got {type(outcome).__name__}")
    except MissingExtraError as exc:  # the check cannot run here: an error, not a verdict on the model
        outcome = Outcome("error", exc.message, f"pip install 'mlgate[{exc.extra}]'")
    except MlgateError as exc:
        outcome = Outcome("fail", exc.message, exc.hint or "")
    except Exception as exc:  # noqa: BLE001 - a broken check is reported, never a crash
        where = entry.name if entry.custom else f"built-in check {entry.name}"
        outcome = Outcome(
            "error", f"the check raised {type(exc).__name__}: {exc}", f"fix {where}; until then it counts as failed"
        )
    return CheckResult(
        name=entry.name,
        area=entry.area,
        status=outcome.status,
        evidence=outcome.evidence,
        action=outcome.action,
        details=outcome.details,
        seconds=round(time.perf_counter() - started, 4),
    )


def run_gate(registry: Registry, name: str, version: str, stage: str, policy: Policy | None = None) -> GateReport:
    """Run every check the policy names for ``stage`` on ``version`` and return the report (not stored)."""
    version = str(version)
    registry.version(name, version)  # fails early, naming the versions that exist
    policy = policy or load_policy(registry.settings, name)
    started_at = utcnow()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="mlgate-gate-"))
    try:
        ctx = GateContext(registry, name, version, stage, workdir, policy_sha256=policy.sha256)
        results = [run_check(ctx, entry) for entry in policy.checks_for(stage)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return GateReport(
        model=name,
        version=version,
        stage=stage,
        policy_sha256=policy.sha256,
        policy_sources=policy.sources,
        started_at=started_at,
        seconds=round(time.perf_counter() - started, 3),
        results=results,
    )
