"""The one seam through which rollout and rollback move traffic: a TrafficRouter, and the built-in one.

Rollout and rollback never touch serving infrastructure directly; they call a ``TrafficRouter``.
The built-in ``RegistryRouter`` writes what mlgate's gateway follows: the ``canary`` alias, the
canary weight tag (percent) and the ``production`` alias. The registry stays the record of what
serves what, so an adapter for another router (a KServe InferenceService's
``canaryTrafficPercent``, a SageMaker endpoint's production-variant weights) wraps a
``RegistryRouter``: it calls the wrapped router first, then makes its platform match, and
answers ``weight()`` from the platform. Nothing in mlgate.canary or mlgate.rollback changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mlgate.exceptions import TransitionRefused
from mlgate.registry import keys

if TYPE_CHECKING:
    from mlgate.registry import Registry


@runtime_checkable
class TrafficRouter(Protocol):
    """Moves live traffic between a model's production and canary versions. Every call is idempotent."""

    def set_canary(self, version: str, weight: float) -> None:
        """Send ``weight`` percent of traffic (0 < weight <= 100) to ``version``; the rest to production."""

    def clear_canary(self) -> None:
        """Send all traffic to production and forget the canary."""

    def promote_canary(self) -> str:
        """Make the canary version production (all traffic to it); return that version."""

    def weight(self) -> float:
        """The percent of traffic the canary receives now (0 without a canary)."""

    def describe(self) -> str:
        """One sentence saying how traffic moves through this router, for plans and runbooks."""


class RegistryRouter:
    """The built-in router: mlgate's gateways follow the registry's aliases and canary weight tag."""

    def __init__(self, registry: Registry, name: str) -> None:
        self.registry = registry
        self.name = name
        self.aliases = registry.settings.aliases

    def set_canary(self, version: str, weight: float) -> None:
        if not 0 < weight <= 100:
            raise TransitionRefused(f"canary weight must be in (0, 100], got {weight}", "fix the rollout steps")
        # Weight first: a gateway that sees the alias before the weight must not send it 100 %.
        self.registry.set_model_tag(self.name, keys.CANARY_WEIGHT, _percent(weight))
        self.registry.set_alias(self.name, self.aliases.canary, str(version))

    def clear_canary(self) -> None:
        self.registry.delete_alias(self.name, self.aliases.canary)
        self.registry.delete_model_tag(self.name, keys.CANARY_WEIGHT)

    def promote_canary(self) -> str:
        canary = self.registry.aliases(self.name).get(self.aliases.canary)
        if canary is None:
            raise TransitionRefused(f"{self.name} has no canary to promote", "start a rollout first")
        self.registry.set_alias(self.name, self.aliases.production, canary)
        self.clear_canary()
        return canary

    def weight(self) -> float:
        if self.aliases.canary not in self.registry.aliases(self.name):
            return 0.0
        raw = self.registry.model_tags(self.name).get(keys.CANARY_WEIGHT, "0")
        try:
            return float(raw)
        except ValueError:
            return 0.0

    def describe(self) -> str:
        return (
            f"registry aliases followed by mlgate's gateways: alias {self.aliases.production!r}, "
            f"alias {self.aliases.canary!r} and tag {keys.CANARY_WEIGHT} (percent of traffic to the canary)"
        )


def _percent(weight: float) -> str:
    return f"{weight:g}"
