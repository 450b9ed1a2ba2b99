"""Alerts to a named owner: rules, owner routing (business hours / out of hours), webhook delivery.

Public names::

    on_duty(settings, owner, now=None) -> OnDuty     who decides right now (mlgate.alerts.routing)
"""

from __future__ import annotations

from mlgate.alerts.routing import OnDuty, Route, Target, on_duty, parse_duration, severity_rank

__all__ = ["OnDuty", "Route", "Target", "on_duty", "parse_duration", "severity_rank"]
