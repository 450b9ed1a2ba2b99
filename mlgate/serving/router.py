"""Production/canary split: the canary's weight of traffic, sticky per request key when one is sent."""

from __future__ import annotations

import random
import zlib

PRODUCTION = "production"
CANARY = "canary"
ROUTES = (PRODUCTION, CANARY)
SHADOW = "shadow"  # the route of a mirrored request's record: the shadow version answered it, no one received it


def bucket(key: str) -> float:
    """A stable position in [0, 100) for a request key: the same key always lands in the same place."""
    return (zlib.crc32(key.encode()) % 10_000) / 100.0


def choose(weight: float, key: str | None, forced: str | None = None, rand: random.Random | None = None) -> str:
    """The route of one request: ``forced`` if valid, else canary for ``weight`` percent of keys (or draws)."""
    if forced in ROUTES:
        return forced  # type: ignore[return-value]
    if weight <= 0:
        return PRODUCTION
    if weight >= 100:
        return CANARY
    position = bucket(key) if key else (rand or random).random() * 100.0
    return CANARY if position < weight else PRODUCTION


def parse_weight(text: str | None) -> float:
    """The canary weight (percent) from the registered-model tag; unreadable or absent means 0."""
    if not text:
        return 0.0
    try:
        value = float(str(text).strip().rstrip("%"))
    except ValueError:
        return 0.0
    return min(max(value, 0.0), 100.0)
