"""Cost per inference and per successful task, from a cost model in mlflow_config/monitor.yaml and the gateway's counts.

monitor.yaml::

    cost:
      instance_cost_per_hour: 1.20    # what the serving fleet costs per hour (all replicas), or
      cost_per_request: 0.0004        # what one request costs (a managed endpoint's price)
      currency: USD
      success_status_below: 400       # a successful task is a request answered with a status below this
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlgate.exceptions import ConfigError


@dataclass
class Cost:
    """What the window cost, per inference and per successful task."""

    currency: str
    total: float
    inferences: int
    successes: int
    per_inference: float | None
    per_success: float | None
    basis: str

    def signals(self) -> dict[str, float | None]:
        return {
            "cost.total": self.total,
            "cost.per_inference": self.per_inference,
            "cost.per_success": self.per_success,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cost_of(model: dict[str, Any] | None, inferences: int, successes: int, window_seconds: float) -> Cost | None:
    """The cost of a window under the cost ``model`` (None when no cost model is configured)."""
    if not model:
        return None
    currency = str(model.get("currency", "USD"))
    try:
        if "cost_per_request" in model:
            total = float(model["cost_per_request"]) * inferences
            basis = f"{model['cost_per_request']} {currency} per request"
        elif "instance_cost_per_hour" in model:
            total = float(model["instance_cost_per_hour"]) * window_seconds / 3600.0
            basis = f"{model['instance_cost_per_hour']} {currency} per hour over {window_seconds:.0f} s"
        else:
            raise ConfigError(
                "the cost model needs cost_per_request or instance_cost_per_hour",
                "set one of them under cost: in mlflow_config/monitor.yaml",
            )
    except (TypeError, ValueError):
        raise ConfigError(f"cost model values must be numbers: {model}", "fix mlflow_config/monitor.yaml") from None
    return Cost(
        currency=currency,
        total=total,
        inferences=inferences,
        successes=successes,
        per_inference=total / inferences if inferences else None,
        per_success=total / successes if successes else None,
        basis=basis,
    )
