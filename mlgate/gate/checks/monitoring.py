"""Monitoring-readiness checks: a reference profile for drift is logged, and an alert owner is reachable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlgate.exceptions import ConfigError
from mlgate.gate.checks import allowed_params, boolean, no_params
from mlgate.gate.report import Outcome, failed, passed, warned
from mlgate.registry import keys

if TYPE_CHECKING:
    from mlgate.gate.engine import GateContext

AREA = "monitoring"


def reference_profile(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """A reference profile (feature and prediction distributions) is logged with the version."""
    load_profile = ctx.require("mlgate.monitor.profile", "load_profile", "reads the reference profile")
    profile = load_profile(ctx.registry, ctx.name, ctx.version)
    if profile is None:
        return failed(
            f"no reference profile is logged with the version ({keys.REFERENCE_PROFILE_ARTIFACT})",
            "log one at training (mlgate.monitor.profile.build_profile + log_profile) so drift can be measured",
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
    on_duty = ctx.require("mlgate.alerts", "on_duty", "resolves who is on duty for an owner")
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


CHECKS = {
    "reference_profile": (reference_profile, allowed_params(require_predictions=boolean)),
    "alert_owner": (alert_owner, no_params),
}
