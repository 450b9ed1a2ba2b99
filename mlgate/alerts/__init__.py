"""Alerts to a named owner: rules, owner routing (business hours / out of hours), webhook delivery.

Public names::

    on_duty(settings, owner, now=None) -> OnDuty        who decides right now (routing.py)
    AlertRouter(settings, session=None, clock=time.time, sleep=time.sleep, state_path=None)
        .fire(Alert(model, signal, severity, summary, details, version, value, threshold)) -> Notification
        .resolve(model, signal) -> Notification          resolved message to whoever heard it fire
        .flush() -> list[DeliveryResult]                 retry deliveries that failed earlier
    verify_signature(secret, body, timestamp, signature) for receivers of signed JSON (delivery.py)
    load_rules(settings) -> list[Rule]                   mlflow_config/alerts.yaml (rules.py)
"""

from __future__ import annotations

from mlgate.alerts.delivery import DeliveryResult, sign, verify_signature
from mlgate.alerts.router import Alert, AlertRouter, Notification
from mlgate.alerts.routing import OnDuty, Route, Target, on_duty, severity_rank
from mlgate.alerts.rules import Rule, load_rules
from mlgate.config.durations import parse_duration  # kept importable here: mlgate's one duration grammar

__all__ = [
    "Alert", "AlertRouter", "DeliveryResult", "Notification", "OnDuty", "Route", "Rule", "Target",
    "load_rules", "on_duty", "parse_duration", "severity_rank", "sign", "verify_signature",
]  # fmt: skip
