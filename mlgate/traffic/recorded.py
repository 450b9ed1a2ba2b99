"""A platform's router kept in step with the registry: each move goes to the router, is read back, then recorded."""

from __future__ import annotations

from collections.abc import Callable

from mlgate.exceptions import MlgateError, TrafficError
from mlgate.traffic.registry_router import RegistryRouter
from mlgate.traffic.router import TrafficRouter, TrafficState


class RecordedRouter:
    """Moves traffic through ``router`` (HAProxy, a mesh, an in-memory router) and records it in the registry.

    Each move is made on the router first, read back from it (a router that reports something else
    raises TrafficError), then written to the registry's aliases, which stay the record of what
    serves what. A move that fails midway leaves the registry as it was: run the command again.
    """

    def __init__(self, record: RegistryRouter, router: TrafficRouter) -> None:
        self.record = record
        self.router = router

    def _move(self, what: str, call: Callable[[], object], expect: Callable[[TrafficState], bool]) -> None:
        try:
            call()
            seen = self.router.state()
        except MlgateError:
            raise
        except Exception as exc:  # noqa: BLE001 - a platform client's own error becomes a clear one
            raise TrafficError(
                f"the traffic router failed to {what}: {type(exc).__name__}: {exc}",
                f"check the router ({self.router.describe()}), then run the command again",
            ) from None
        if not expect(seen):
            raise TrafficError(
                f"the traffic router was told to {what} but reports {seen.describe()}",
                f"check the router ({self.router.describe()}), then run the command again",
            )

    def set_production(self, version: str) -> None:
        version = str(version)
        self._move(
            f"make v{version} production",
            lambda: self.router.set_production(version),
            lambda s: s.production == version,
        )
        self.record.set_production(version)

    def set_canary(self, version: str, weight: float) -> None:
        version = str(version)
        self._move(
            f"send {weight:g}% to v{version}",
            lambda: self.router.set_canary(version, weight),
            lambda s: s.canary == version and abs(s.weight - weight) < 1e-9,
        )
        self.record.set_canary(version, weight)

    def clear_canary(self) -> None:
        self._move("clear the canary", self.router.clear_canary, lambda s: s.canary is None)
        self.record.clear_canary()

    def promote_canary(self) -> str:
        promoted: list[str] = []
        self._move(
            "make the canary production",
            lambda: promoted.append(self.router.promote_canary()),
            lambda s: s.canary is None and s.production == promoted[0],
        )
        version = promoted[0]
        self.record.set_production(version)
        self.record.clear_canary()
        return version

    def set_shadow(self, version: str, share: float) -> None:
        version = str(version)
        self._move(
            f"mirror {share:g}% of production requests to v{version}",
            lambda: self.router.set_shadow(version, share),
            lambda s: s.shadow == version and abs(s.shadow_share - share) < 1e-9,
        )
        self.record.set_shadow(version, share)

    def clear_shadow(self) -> None:
        self._move("stop mirroring to the shadow", self.router.clear_shadow, lambda s: s.shadow is None)
        self.record.clear_shadow()

    def state(self) -> TrafficState:
        return self.router.state()

    def describe(self) -> str:
        return f"{self.router.describe()}, recorded in the registry's aliases"
