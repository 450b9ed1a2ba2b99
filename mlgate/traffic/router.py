"""The TrafficRouter seam: every traffic move of promote, rollout and rollback goes through one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class TrafficState:
    """What a router says serves now: the production version, the canary with its percent of traffic,
    and the shadow with its percent of production requests mirrored to it (answers no one)."""

    production: str | None
    canary: str | None = None
    weight: float = 0.0  # percent of traffic to the canary (0 without one)
    shadow: str | None = None
    shadow_share: float = 0.0  # percent of production requests mirrored to the shadow (0 without one)

    def describe(self) -> str:
        serving = f"production v{self.production}" if self.production else "no production version"
        if self.canary:
            serving += f", canary v{self.canary} at {self.weight:g}%"
        if self.shadow:
            serving += f", shadow v{self.shadow} mirroring {self.shadow_share:g}% of production requests"
        return serving


@runtime_checkable
class TrafficRouter(Protocol):
    """Moves live traffic between a model's versions. Every call is idempotent; ``state`` reads back."""

    def set_production(self, version: str) -> None:
        """Make ``version`` production: the traffic that is not the canary's goes to it."""

    def set_canary(self, version: str, weight: float) -> None:
        """Send ``weight`` percent of traffic (0 < weight <= 100) to ``version``; the rest to production."""

    def clear_canary(self) -> None:
        """Send all traffic to production and forget the canary."""

    def promote_canary(self) -> str:
        """Make the canary version production (all traffic to it); return that version."""

    def set_shadow(self, version: str, share: float) -> None:
        """Mirror ``share`` percent (0 < share <= 100) of production requests to ``version`` after they are
        answered; its answers are recorded, never returned. A router that cannot mirror raises TransitionRefused."""

    def clear_shadow(self) -> None:
        """Stop mirroring and forget the shadow."""

    def state(self) -> TrafficState:
        """Read back what serves now, from the router itself."""

    def describe(self) -> str:
        """One sentence saying how traffic moves through this router, for plans and runbooks."""
