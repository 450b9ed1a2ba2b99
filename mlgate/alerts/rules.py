"""Alert rules from mlflow_config/alerts.yaml: a signal, a comparison with a threshold, a window, a severity.

alerts.yaml::

    rules:
      - signal: drift.max_psi          # any signal a monitoring pass computes (see `mlgate monitor --json`)
        threshold: 0.2
        op: ">"                        # > (default), >=, <, <=
        window: 1h                     # the traffic window the signal is computed over
        severity: warning              # info | warning | critical
        models: [fraud]                # optional: only these models (default: every model)
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlgate.alerts.routing import SEVERITIES
from mlgate.config import Settings
from mlgate.config.durations import parse_duration
from mlgate.config.files import check_keys, read_yaml
from mlgate.exceptions import ConfigError

ALERTS_FILE = "alerts.yaml"
FILE_KEYS = ("rules",)
RULE_KEYS = ("signal", "threshold", "op", "window", "severity", "models")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """One alert rule."""

    signal: str
    threshold: float
    op: str = ">"
    window_seconds: float = 3600.0
    severity: str = "warning"
    models: tuple[str, ...] = ()

    def applies_to(self, model: str) -> bool:
        return not self.models or model in self.models

    def breached(self, value: float | None) -> bool:
        """True when ``value`` crosses the threshold (a missing value never fires)."""
        return value is not None and _OPS[self.op](float(value), self.threshold)

    def describe(self, value: float | None) -> str:
        return f"{self.signal} = {_fmt(value)} ({self.op} {_fmt(self.threshold)} over {int(self.window_seconds)} s)"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def load_rules(settings: Settings) -> list[Rule]:
    """The rules in alerts.yaml (empty when the file does not exist)."""
    path = settings.config_file(ALERTS_FILE)
    if path is None:
        return []
    data = read_yaml(path)
    check_keys(data, FILE_KEYS, str(path))
    raw = data.get("rules")
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: rules must be a list of rules", "see README: Monitoring and alerts")
    rules = []
    for i, spec in enumerate(raw):
        where = f"{path}: rules[{i}]"
        if not isinstance(spec, dict) or "signal" not in spec or "threshold" not in spec:
            raise ConfigError(f"{where} needs signal and threshold", "fix the rule")
        check_keys(spec, RULE_KEYS, where)
        op = str(spec.get("op", ">"))
        severity = str(spec.get("severity", "warning"))
        if op not in _OPS:
            raise ConfigError(f"{where}: op {op!r}", f"use one of {', '.join(_OPS)}")
        if severity not in SEVERITIES:
            raise ConfigError(f"{where}: severity {severity!r}", f"use one of {', '.join(SEVERITIES)}")
        try:
            threshold = float(spec["threshold"])
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: threshold {spec['threshold']!r} is not a number", "fix it") from None
        models = spec.get("models") or []
        rules.append(
            Rule(
                signal=str(spec["signal"]),
                threshold=threshold,
                op=op,
                window_seconds=parse_duration(spec.get("window", "1h"), f"{where}.window"),
                severity=severity,
                models=tuple(str(m) for m in ([models] if isinstance(models, str) else models)),
            )
        )
    return rules


def evaluate(rules: list[Rule], model: str, signals: dict[str, Any]) -> list[tuple[Rule, float | None, bool]]:
    """Each applicable rule with its signal's value and whether it is breached."""
    return [(r, signals.get(r.signal), r.breached(signals.get(r.signal))) for r in rules if r.applies_to(model)]
