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


def check_share(share: float) -> None:
    """Refuse a shadow share outside (0, 100]."""
    if not 0 < share <= 100:
        raise TransitionRefused(
            f"the shadow share must be in (0, 100] percent of production requests, got {share:g}",
            "fix shadow.share in rollout.yaml",
        )


def _percent(text: str | None) -> float:
    try:
        return float(text or "0")
    except ValueError:
        return 0.0


class RegistryRouter:
    """Writes the ``production``, ``canary`` and ``shadow`` aliases and the weight and share tags gateways follow.

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

    def set_shadow(self, version: str, share: float) -> None:
        check_share(share)
        # Share first, like the canary's weight: the alias is what makes a gateway mirror.
        self.registry.set_model_tag(self.name, keys.SHADOW_SHARE, f"{share:g}")
        self.registry.set_alias(self.name, self.aliases.shadow, str(version))

    def clear_shadow(self) -> None:
        self.registry.delete_alias(self.name, self.aliases.shadow)
        self.registry.delete_model_tag(self.name, keys.SHADOW_SHARE)

    def state(self) -> TrafficState:
        model = self.registry.model(self.name)  # aliases and tags in one read
        aliases = {alias: str(v) for alias, v in (model.aliases or {}).items()}
        tags = dict(model.tags or {})
        canary, shadow = aliases.get(self.aliases.canary), aliases.get(self.aliases.shadow)
        weight = _percent(tags.get(keys.CANARY_WEIGHT)) if canary is not None else 0.0
        share = _percent(tags.get(keys.SHADOW_SHARE)) if shadow is not None else 0.0
        return TrafficState(aliases.get(self.aliases.production), canary, weight, shadow, share)

    def weight(self) -> float:
        """The percent of traffic the canary receives now (0 without a canary)."""
        return self.state().weight

    def describe(self) -> str:
        return (
            f"registry aliases followed by mlgate's gateways: alias {self.aliases.production!r}, "
            f"alias {self.aliases.canary!r} and tag {keys.CANARY_WEIGHT} (percent of traffic to the canary), "
            f"alias {self.aliases.shadow!r} and tag {keys.SHADOW_SHARE} (percent of production requests mirrored)"
        )
