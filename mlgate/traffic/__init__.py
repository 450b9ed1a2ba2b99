"""Traffic: the TrafficRouter seam every traffic move goes through, and the routers that implement it."""

from __future__ import annotations

from mlgate.traffic.memory import InMemoryRouter, Move
from mlgate.traffic.recorded import RecordedRouter
from mlgate.traffic.registry_router import RegistryRouter
from mlgate.traffic.router import TrafficRouter, TrafficState
from mlgate.traffic.select import router_for

__all__ = [
    "InMemoryRouter",
    "Move",
    "RecordedRouter",
    "RegistryRouter",
    "TrafficRouter",
    "TrafficState",
    "router_for",
]
