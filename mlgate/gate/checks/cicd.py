"""CI/CD checks: quality thresholds, no regression against production, transform tests, the served inference path."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from mlgate.exceptions import PolicyError
from mlgate.gate.context import GateContext
from mlgate.gate.report import Outcome, failed, passed
from mlgate.gate.spec import CheckSpec, allowed_params, number
from mlgate.registry import keys
from mlgate.serving import running_gateway
from mlgate.stats.metrics import known_names, lookup

AREA = "CI/CD"


def _metric_name(name: Any, key: str, seen: dict[str, str]) -> str:
    """The canonical name of a metric the policy names (an alias such as roc_auc_ovr is accepted once)."""
    metric = lookup(str(name))
    if metric is None:
        raise PolicyError(f"{key}: unknown metric {name!r}", f"metrics mlgate computes: {', '.join(known_names())}")
    if metric.name in seen:
        raise PolicyError(
            f"{key}: {name!r} and {seen[metric.name]!r} are the same metric ({metric.name})", "keep one of them"
        )
    seen[metric.name] = str(name)
    return metric.name


def _thresholds(value: Any, key: str) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict) or not value:
        raise PolicyError(f"{key}: must map metric names to {{min: N}} or {{max: N}}", "e.g. accuracy: {min: 0.9}")
    out: dict[str, dict[str, float]] = {}
    seen: dict[str, str] = {}
    for metric, bound in value.items():
        where = f"{key}.{metric}"
        name = _metric_name(metric, where, seen)
        if not isinstance(bound, dict) or not bound or set(bound) - {"min", "max"}:
            raise PolicyError(f"{where}: must be {{min: N}} and/or {{max: N}}, got {bound!r}", "e.g. {min: 0.9}")
        out[name] = {side: number(limit, f"{where}.{side}") for side, limit in bound.items()}
    return out


def _tolerances(value: Any, key: str) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise PolicyError(f"{key}: must map metric names to an allowed drop, e.g. accuracy: 0.01", "fix the value")
    seen: dict[str, str] = {}
    return {_metric_name(m, f"{key}.{m}", seen): number(t, f"{key}.{m}", minimum=0) for m, t in value.items()}


def _not_measured(ctx: GateContext, metric: str, version: str | None = None) -> str:
    """Why ``metric`` has no value for ``version`` (default: the version under test)."""
    whose = "" if version is None else f" for production v{version}"
    reason = ctx.measured(version).unavailable.get(metric)
    if reason:
        return f"{metric} cannot be computed{whose}: {reason}"
    return f"{metric} cannot be computed for a {ctx.evaluation().task} model"


def quality_thresholds(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """Absolute thresholds on named metrics, computed by mlgate on the version's evaluation set."""
    limits = params.get("metrics")
    if not limits:
        return failed("the policy sets no metric thresholds", "set checks.quality_thresholds.metrics in the policy")
    measured = ctx.metrics()
    rows = len(ctx.evaluation().target)
    seen, broken = [], []
    for metric, bound in limits.items():
        if metric not in measured:
            broken.append(_not_measured(ctx, metric))
            continue
        value = measured[metric]
        text = f"{metric}={value:.4f}"
        if "min" in bound and value < bound["min"]:
            broken.append(f"{text} below the minimum {bound['min']}")
        elif "max" in bound and value > bound["max"]:
            broken.append(f"{text} above the maximum {bound['max']}")
        else:
            seen.append(text)
    if broken:
        return failed(
            f"on {rows} evaluation rows: " + "; ".join(broken),
            "improve the model (or fix the evaluation data) and register a new version",
            metrics=measured,
        )
    return passed(f"on {rows} evaluation rows: " + ", ".join(seen) + " within thresholds", metrics=measured)


def no_regression(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """No metric worse than the production version's beyond its tolerance, both scored on the same data."""
    tolerance: dict[str, float] = params.get("tolerance") or {}
    if not tolerance:
        return failed("the policy sets no tolerance per metric", "set checks.no_regression.tolerance in the policy")
    production = ctx.production_version
    if production is None:
        return passed("no other version is in production: nothing to regress against (first release)")
    mine, theirs = ctx.metrics(), ctx.metrics(production)
    rows = len(ctx.evaluation().target)
    seen, worse = [], []
    for metric, allowed in tolerance.items():
        if metric not in mine or metric not in theirs:
            worse.append(_not_measured(ctx, metric, None if metric not in mine else production))
            continue
        known = lookup(metric)
        assert known is not None  # the policy accepts only metrics of the vocabulary
        loss = known.loss(mine[metric], theirs[metric])
        text = f"{metric} {mine[metric]:.4f} vs production v{production} {theirs[metric]:.4f}"
        if loss > allowed:
            worse.append(f"{text}: worse by {loss:.4f} > tolerance {allowed}")
        else:
            seen.append(f"{text} (tolerance {allowed})")
    if worse:
        return failed(
            f"on the same {rows} evaluation rows: " + "; ".join(worse),
            "keep production, or raise the tolerance in the policy if this trade-off is intended",
            candidate=mine,
            production=theirs,
        )
    return passed(f"on the same {rows} evaluation rows: " + "; ".join(seen), candidate=mine, production=theirs)


def _junit_counts(root: ET.Element) -> dict[str, int]:
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        cases = suite.findall("testcase")
        counts["tests"] += int(suite.get("tests", len(cases)))
        counts["failures"] += int(suite.get("failures", sum(c.find("failure") is not None for c in cases)))
        counts["errors"] += int(suite.get("errors", sum(c.find("error") is not None for c in cases)))
        counts["skipped"] += int(suite.get("skipped", sum(c.find("skipped") is not None for c in cases)))
    return counts


def transform_tests(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """Feature-transform test results (JUnit XML) are attached to the run, with zero failures."""
    local = ctx.artifact(keys.TRANSFORM_TESTS_ARTIFACT)
    if local is None:
        return failed(
            f"no transform test results in the run ({keys.TRANSFORM_TESTS_ARTIFACT})",
            f"run the transform tests with `pytest --junitxml` and log the XML as {keys.TRANSFORM_TESTS_ARTIFACT}",
        )
    try:
        counts = _junit_counts(ET.parse(local).getroot())
    except (ET.ParseError, ValueError) as exc:
        return failed(f"{keys.TRANSFORM_TESTS_ARTIFACT} is not JUnit XML: {exc}", "log pytest's --junitxml output")
    minimum = int(params.get("min_tests", 1))
    if ctx.run_tags.get(keys.TRANSFORM_TESTS_TAG) == "failed" and not (counts["failures"] or counts["errors"]):
        counts["failures"] = max(1, counts["failures"])  # the pipeline says they failed: believe the worse news
    text = "{tests} tests, {failures} failures, {errors} errors, {skipped} skipped".format(**counts)
    if counts["failures"] or counts["errors"]:
        return failed(text, "fix the feature transforms (or their tests) and retrain", **counts)
    if counts["tests"] - counts["skipped"] < minimum:
        return failed(f"{text}: fewer than {minimum} ran", "write and run tests for the feature transforms", **counts)
    return passed(text, **counts)


def serves_input_example(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """The version served by the real gateway answers its logged input example."""
    import requests

    example = ctx.package().input_example
    if example is None:
        return failed("no input example was logged with the model", "log the model with input_example=")
    timeout = float(params.get("timeout_seconds", 30.0))
    body = {"dataframe_split": json.loads(example.to_json(orient="split", index=False))}
    with running_gateway(ctx.registry, ctx.name, port=0, version=ctx.version, record=False) as url:
        response = requests.post(f"{url}/invocations", json=body, timeout=timeout)
    if response.status_code != 200:
        return failed(
            f"POST /invocations answered HTTP {response.status_code}: {response.text[:300]}",
            "serve the version with `mlgate serve` and read its log",
        )
    try:
        predictions = response.json()["predictions"]
    except (ValueError, KeyError, TypeError):
        return failed(f"the gateway's answer has no predictions: {response.text[:300]}", "check the scoring protocol")
    if len(predictions) != len(example):
        return failed(f"{len(predictions)} predictions for {len(example)} input rows", "check the model's output")
    took = response.elapsed.total_seconds() * 1000
    return passed(
        f"the gateway served v{ctx.version} and answered its {len(example)}-row input example in {took:.0f} ms"
    )


def _min_tests(value: Any, key: str) -> int:
    return int(number(value, key, minimum=1))


def _timeout(value: Any, key: str) -> float:
    return number(value, key, minimum=1)


SPECS: tuple[CheckSpec, ...] = (
    CheckSpec("quality_thresholds", AREA, quality_thresholds, allowed_params(("metrics",), metrics=_thresholds)),
    CheckSpec("no_regression", AREA, no_regression, allowed_params(("tolerance",), tolerance=_tolerances)),
    CheckSpec("transform_tests", AREA, transform_tests, allowed_params(min_tests=_min_tests)),
    CheckSpec("serves_input_example", AREA, serves_input_example, allowed_params(timeout_seconds=_timeout)),
)
