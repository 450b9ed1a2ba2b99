"""Traffic: the TrafficRouter seam every traffic move goes through, and the routers that implement it."""

from __future__ import annotations

from mlgate.traffic.router import RegistryRouter, TrafficRouter

__all__ = ["RegistryRouter", "TrafficRouter"]
