"""The built-in router: mlgate's gateways follow the registry's aliases and canary weight tag."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlgate.exceptions import TransitionRefused
from mlgate.registry import keys
from mlgate.traffic.router import TrafficState

if TYPE_CHECKING:
    from mlgate.registry import Registry


def check_weight(weight: float) -> None:
    """Refuse a canary weight outside (0, 100]."""
    if not 0 < weight <= 100:
        raise TransitionRefused(f"canary weight must be in (0, 100], got {weight:g}", "fix the rollout steps")


class RegistryRouter:
    """Writes the ``production`` and ``canary`` aliases and the canary weight tag that gateways follow.

    The registry is the record of what serves what whichever router moves traffic; this router is
    that record, and for mlgate's own gateways it is also the traffic.
    """

    def __init__(self, registry: Registry, name: str) -> None:
        self.registry = registry
        self.name = name
        self.aliases = registry.settings.aliases

    def set_production(self, version: str) -> None:
        self.registry.set_alias(self.name, self.aliases.production, str(version))

    def set_canary(self, version: str, weight: float) -> None:
        check_weight(weight)
        # Weight first: a gateway that sees the alias before the weight must not send it 100 %.
        self.registry.set_model_tag(self.name, keys.CANARY_WEIGHT, f"{weight:g}")
        self.registry.set_alias(self.name, self.aliases.canary, str(version))

    def clear_canary(self) -> None:
        self.registry.delete_alias(self.name, self.aliases.canary)
        self.registry.delete_model_tag(self.name, keys.CANARY_WEIGHT)

    def promote_canary(self) -> str:
        canary = self.registry.aliases(self.name).get(self.aliases.canary)
        if canary is None:
            raise TransitionRefused(f"{self.name} has no canary to promote", "start a rollout first")
        self.set_production(canary)
        self.clear_canary()
        return canary

    def state(self) -> TrafficState:
        aliases = self.registry.aliases(self.name)
        canary = aliases.get(self.aliases.canary)
        weight = 0.0
        if canary is not None:
            try:
                weight = float(self.registry.model_tags(self.name).get(keys.CANARY_WEIGHT, "0"))
            except ValueError:
                weight = 0.0
        return TrafficState(aliases.get(self.aliases.production), canary, weight)

    def weight(self) -> float:
        """The percent of traffic the canary receives now (0 without a canary)."""
        return self.state().weight

    def describe(self) -> str:
        return (
            f"registry aliases followed by mlgate's gateways: alias {self.aliases.production!r}, "
            f"alias {self.aliases.canary!r} and tag {keys.CANARY_WEIGHT} (percent of traffic to the canary)"
        )
