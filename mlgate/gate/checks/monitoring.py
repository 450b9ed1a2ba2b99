"""Monitoring-readiness checks: a reference profile for drift is logged, and an alert owner is reachable."""

from __future__ import annotations

from typing import Any

from mlgate.alerts import on_duty
from mlgate.exceptions import ConfigError
from mlgate.gate.context import GateContext
from mlgate.gate.report import Outcome, failed, passed, warned
from mlgate.gate.spec import CheckSpec, allowed_params, boolean, no_params
from mlgate.registry import keys
from mlgate.stats.profile import load_profile

AREA = "monitoring"


def reference_profile(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """A reference profile (feature and prediction distributions) is logged with the version."""
    profile = load_profile(ctx.registry, ctx.name, ctx.version)
    if profile is None:
        return failed(
            f"no reference profile is logged with the version ({keys.REFERENCE_PROFILE_ARTIFACT})",
            "log one at training (run.log_model in mlgate.training does, or mlgate.stats.profile.build_profile "
            "+ log_profile) so drift can be measured",
        )
    features = profile.get("features") or {}
    predictions = profile.get("prediction") or {}
    if not features:
        return failed("the reference profile has no feature distributions", "rebuild it from the training features")
    if params.get("require_predictions", True) and not predictions:
        return failed(
            "the reference profile has no prediction distribution",
            "build it with the model's predictions (build_profile(features, predictions))",
        )
    return passed(
        f"{profile.get('row_count', '?')} rows profiled: "
        f"{len(features)} features, {len(predictions)} prediction column(s)"
    )


def alert_owner(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """The model's owner (from its card) has an alert route in owners.yaml."""
    owner = ctx.tags.get(keys.OWNER)
    if not owner:
        return failed("the version names no owner (tag mlgate.owner)", "register it with a model card naming the owner")
    try:
        duty = on_duty(ctx.settings, owner)
    except ConfigError as exc:
        return failed(f"alerts for {owner} reach nobody: {exc.message}", exc.hint or "add a route to owners.yaml")
    targets = list(getattr(duty, "targets", ()) or ())
    problems = [f"{t.name}: {t.problem}" for t in targets if getattr(t, "problem", None)]
    via = ", ".join(t.name for t in targets) or "no target"
    text = f"owner {owner}: alerts go to {duty.person} now ({duty.period}) via {via}"
    if not targets:
        return failed(text, f"give {owner} at least one alert target in owners.yaml")
    if problems:
        return warned(
            f"{text}; cannot deliver here: {'; '.join(problems)}", "set the target's URL variable where alerts run"
        )
    return passed(text)


SPECS: tuple[CheckSpec, ...] = (
    CheckSpec("reference_profile", AREA, reference_profile, allowed_params(require_predictions=boolean)),
    CheckSpec("alert_owner", AREA, alert_owner, no_params),
)
