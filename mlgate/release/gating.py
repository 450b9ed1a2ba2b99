"""Gating: a version needs a passing gate report for its stage, and a risky change needs a canary first.

A version may go straight to production after staging unless, compared with the current
production version, it binds a new major data-contract version, belongs to another model
family (flavor or estimator class), or moves a metric both record by more than the allowed
relative delta. Those rules apply once ``mlflow_config/rollout.yaml`` exists (the project ships one).
`mlgate promote --to production` enforces them; ``--force --reason`` bypasses them, on record.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from mlgate.exceptions import GateFailed, MlgateError, TransitionRefused
from mlgate.gate import gate_record
from mlgate.gate.engine import run_gate
from mlgate.gate.policy import policy_files
from mlgate.gate.report import store_report
from mlgate.registry import keys, mlflow_uris
from mlgate.release.rollout.policy import ROLLOUT_FILE, load_rollout_policy

if TYPE_CHECKING:
    from mlgate.registry import Registry

GATED_STAGES = ("staging", "canary", "production")
FAMILY_TAG = "mlgate.model_family"  # optional version tag naming the family explicitly
AUTOLOG_CLASS_TAG = "estimator_class"  # what mlflow.sklearn.autolog writes on the run


def _major(version: str | None) -> int | None:
    if not version:
        return None
    try:
        return int(str(version).lstrip("vV").split(".")[0])
    except ValueError:
        return None


def model_family(registry: Registry, name: str, version: str) -> str:
    """The version's family: an explicit tag, the run's estimator class, else flavors + the loaded model's class."""
    mv = registry.version(name, version)
    tags = mv.tags or {}
    if tags.get(FAMILY_TAG):
        return tags[FAMILY_TAG]
    if mv.run_id:
        run = registry.run(mv.run_id)
        if run.data.tags.get(AUTOLOG_CLASS_TAG):
            return str(run.data.tags[AUTOLOG_CLASS_TAG])
    from mlflow.models import get_model_info
    from mlflow.pyfunc import load_model

    uri = f"models:/{name}/{version}"
    with mlflow_uris(registry.settings):
        info = registry.call(f"reading the flavors of {name} v{version}", get_model_info, uri)
        flavors = "+".join(sorted(f for f in info.flavors if f != "python_function")) or "python_function"
        raw = None
        with contextlib.suppress(Exception):  # a model that will not load has no class to compare
            raw = load_model(uri).get_raw_model()
    if raw is None:
        return flavors
    return f"{flavors}:{type(raw).__module__}.{type(raw).__qualname__}"


def _metrics(registry: Registry, name: str, version: str) -> dict[str, float]:
    mv = registry.version(name, version)
    if not mv.run_id:
        return {}
    run = registry.run(mv.run_id)
    return dict(run.data.metrics or {})


def canary_reasons(registry: Registry, name: str, version: str) -> list[str]:
    """Why ``version`` needs a canary before production (empty: it may go straight there)."""
    if registry.settings.config_file(ROLLOUT_FILE) is None:
        return []  # the rules apply once a team writes its rollout policy (mlflow_config/rollout.yaml)
    rules = load_rollout_policy(registry.settings, name).require_canary
    production = registry.aliases(name).get(registry.settings.aliases.production)
    version = str(version)
    if production is None or production == version:
        return []
    reasons = []
    new_tags = registry.version(name, version).tags or {}
    old_tags = registry.version(name, production).tags or {}
    if rules.contract_major_change:
        new_major = _major(new_tags.get(keys.CONTRACT_VERSION))
        old_major = _major(old_tags.get(keys.CONTRACT_VERSION))
        if new_major is not None and old_major is not None and new_major != old_major:
            reasons.append(
                f"new major contract version ({old_tags[keys.CONTRACT_VERSION]} -> {new_tags[keys.CONTRACT_VERSION]})"
            )
    if rules.model_family_change:
        try:
            new_family = model_family(registry, name, version)
            old_family = model_family(registry, name, production)
        except MlgateError:
            pass  # a model whose family cannot be read is judged by the gate's checks, not here
        else:
            if new_family != old_family:
                reasons.append(f"another model family ({old_family} -> {new_family})")
    if rules.max_metric_delta is not None:
        new_metrics = _metrics(registry, name, version)
        old_metrics = _metrics(registry, name, production)
        for metric in sorted(set(new_metrics) & set(old_metrics)):
            old, new = old_metrics[metric], new_metrics[metric]
            delta = abs(new - old) / max(abs(old), 1e-12)
            if delta > rules.max_metric_delta:
                reasons.append(f"{metric} moved {delta:.1%} ({old:g} -> {new:g}; allowed {rules.max_metric_delta:.1%})")
    return reasons


def ensure_no_canary_needed(registry: Registry, name: str, version: str) -> None:
    """Refuse a straight promotion to production of a change the policy says needs a canary."""
    reasons = canary_reasons(registry, name, version)
    if reasons:
        raise TransitionRefused(
            f"{name} v{version} needs a canary before production: {'; '.join(reasons)}",
            f"run `mlgate rollout start {name} {version}` (rollout.yaml: require_canary), "
            "or bypass with --force --reason",
        )


def ensure_gate(registry: Registry, name: str, version: str, stage: str, force: bool = False) -> str:
    """Pass the gate of ``stage`` for ``version``, or raise GateFailed listing the failed checks.

    A passing report for the same version under the same policy hash is reused; otherwise the
    gate runs now and its report is stored on the version. ``force`` skips a gate that has not
    passed (the caller records the bypass). Returns "passed", or the FORCED note to record.
    """
    if stage not in GATED_STAGES:
        return "not required"
    record = gate_record(registry, name, version, stage)
    if record.passed:
        return "passed"
    if force:
        return f"FORCED past the gate: {record.explain()}"
    if not policy_files(registry.settings, name):
        raise GateFailed(
            f"{name} v{version} cannot go to {stage}: {record.explain()}, and there is no release policy "
            "(mlflow_config/policy.yaml) to run it under",
            "create the policy (see README: The release gate), or bypass with --force --reason",
        )
    report = store_report(registry, run_gate(registry, name, version, stage))
    if report.passed:
        return "passed"
    failures = "\n".join(f"  ✗ {r.name}: {r.evidence}" for r in report.failures) or "  (no check ran)"
    raise GateFailed(
        f"{name} v{version} cannot go to {stage}: {report.summary()}\n{failures}",
        f"fix the failed checks (report {report.artifacts.get('html')}), then promote again; "
        "or bypass with --force --reason",
    )
