"""The shipped operations files: Prometheus rules and the Grafana dashboard query only what the gateway exports,
and promtool accepts the rules and passes their unit tests."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.serving.metrics import GatewayMetrics
from tests.alertmanager_support import require_binary

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "mlgate-rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "mlgate-rules.test.yml"
DASHBOARD = DEPLOY / "grafana" / "mlgate-dashboard.json"
PROMTOOL = "/usr/bin/promtool"
PROMTOOL_HINT = "apt-get install prometheus (it ships promtool; CI's .ci/run does it)"
SELECTOR = re.compile(r"\b(mlgate_[a-zA-Z0-9_]+)\s*(\{[^}]*\})?")
BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def exported() -> dict[str, set[str]]:
    """Every series name the gateway's collector exports, with its label names (filled the way the gateway does)."""
    metrics = GatewayMetrics("fraud")
    metrics.observe("4", "canary", 500, 0.2, 3, "model_error")
    metrics.set_serving({"production": "3", "canary": "4"}, 25.0)
    metrics.reloaded("failed")
    metrics.records_dropped.set(1)
    names: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def rule_exprs() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    out = [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            found = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["query"]["query"])
            assert found, var["query"]
            out.append((f"variable {var['name']}", found.group(1)))
    return out


def problems(expr: str, metrics: dict[str, set[str]]) -> list[str]:
    """Metrics the gateway does not export, or labels it does not put on them, that ``expr`` refers to."""
    found = []
    used: set[str] = set()
    for name, matchers in SELECTOR.findall(expr):
        if name not in metrics:
            found.append(f"{name} is not exported (exported: {', '.join(sorted(metrics))})")
            continue
        used |= metrics[name]
        for label in MATCHER_LABEL.findall(matchers or ""):
            if label not in metrics[name]:
                found.append(f"{name} has no label {label!r}")
    if not used and not found:
        found.append("refers to no mlgate metric")
    for group in BY.findall(expr):
        for label in (x.strip() for x in group.split(",") if x.strip()):
            if label not in used:
                found.append(f"groups by {label!r}, which none of its metrics carries")
    return found


def test_every_rule_and_dashboard_query_uses_metrics_and_labels_the_gateway_exports() -> None:
    metrics = exported()
    exprs = rule_exprs() + dashboard_exprs()
    assert len(rule_exprs()) == 5 and len(exprs) > 15
    bad = {where: p for where, expr in exprs if (p := problems(expr, metrics))}
    assert bad == {}
    used = {name for _, expr in exprs for name, _ in SELECTOR.findall(expr)}
    for needed in ("mlgate_requests_total", "mlgate_request_latency_seconds_bucket", "mlgate_reloads_total",
                   "mlgate_records_dropped", "mlgate_canary_weight"):  # fmt: skip
        assert needed in used
    assert problems('rate(mlgate_request_total{model="x"}[5m])', metrics)  # the check itself catches a typo
    assert problems('sum by (instance_model) (mlgate_canary_weight{modle="x"})', metrics)


def test_every_rule_is_labelled_for_routing_and_says_what_to_do() -> None:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["alert"]
            assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
            assert "model" in rule["expr"] and "$labels.model" in rule["annotations"]["summary"]


def test_the_dashboard_is_per_model_version_and_route() -> None:
    board = json.loads(DASHBOARD.read_text())
    variables = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "model", "version", "route"} <= variables
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert 'model=~"$model"' in target["expr"], panel["title"]
    per_route = [p for p in panels if any("route" in t["legendFormat"] for t in p["targets"])]
    assert len(per_route) >= 5


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = require_binary(PROMTOOL, PROMTOOL_HINT)
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout
    tested = _promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """Grafana's variables filled in, each panel query becomes a recording rule promtool must parse."""
    rules: list[dict[str, Any]] = []
    for i, (_, expr) in enumerate(dashboard_exprs()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"mlgate:dashboard:query{i}", "expr": re.sub(r"\$\w+", ".*", expr)})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = _promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("broken", ["rate(mlgate_requests_total[5m]", "sum by (model (mlgate_canary_weight)"])
def test_promtool_refuses_a_broken_query(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": broken}]}]}))
    assert _promtool("check", "rules", str(path)).returncode != 0
