"""An in-memory router that remembers every move it is asked to make: for tests, like httpx's MockTransport."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlgate.exceptions import TransitionRefused
from mlgate.traffic.registry_router import check_share, check_weight
from mlgate.traffic.router import TrafficState


@dataclass(frozen=True)
class Move:
    """One call a router received: its name and arguments."""

    action: str  # set_production | set_canary | clear_canary | promote_canary | set_shadow | clear_shadow
    version: str | None = None
    weight: float | None = None  # the canary's weight, or the shadow's share

    def __str__(self) -> str:
        args = ", ".join(str(a) for a in (self.version, self.weight) if a is not None)
        return f"{self.action}({args})"


@dataclass
class InMemoryRouter:
    """Keeps production, canary, weight, shadow and share in memory and appends each call to ``moves``.

    ``fail_on`` names actions that raise instead, to test what a failing load balancer leaves behind.
    """

    production: str | None = None
    canary: str | None = None
    weight: float = 0.0
    shadow: str | None = None
    shadow_share: float = 0.0
    moves: list[Move] = field(default_factory=list)
    fail_on: set[str] = field(default_factory=set)

    def _receive(self, move: Move) -> None:
        self.moves.append(move)
        if move.action in self.fail_on:
            raise TransitionRefused(f"the in-memory router refused {move}", "clear fail_on and run the command again")

    def set_production(self, version: str) -> None:
        self._receive(Move("set_production", str(version)))
        self.production = str(version)

    def set_canary(self, version: str, weight: float) -> None:
        check_weight(weight)
        self._receive(Move("set_canary", str(version), float(weight)))
        self.canary, self.weight = str(version), float(weight)

    def clear_canary(self) -> None:
        self._receive(Move("clear_canary"))
        self.canary, self.weight = None, 0.0

    def promote_canary(self) -> str:
        if self.canary is None:
            raise TransitionRefused("the in-memory router has no canary to promote", "start a rollout first")
        self._receive(Move("promote_canary", self.canary))
        promoted = self.canary
        self.production, self.canary, self.weight = promoted, None, 0.0
        return promoted

    def set_shadow(self, version: str, share: float) -> None:
        check_share(share)
        self._receive(Move("set_shadow", str(version), float(share)))
        self.shadow, self.shadow_share = str(version), float(share)

    def clear_shadow(self) -> None:
        self._receive(Move("clear_shadow"))
        self.shadow, self.shadow_share = None, 0.0

    def state(self) -> TrafficState:
        return TrafficState(self.production, self.canary, self.weight, self.shadow, self.shadow_share)

    def describe(self) -> str:
        return "an in-memory router (tests)"
