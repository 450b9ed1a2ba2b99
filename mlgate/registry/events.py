"""A model's history: one event per transition, stored in the registry, and the one way to read it."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlgate.registry.client import Registry


def utcnow() -> str:
    """The current time as an ISO-8601 UTC string (what every record uses)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Event:
    """One transition or action in a model's history, stored as a run of its history experiment (history.py)."""

    action: str
    model: str
    from_version: str | None = None
    to_version: str | None = None
    actor: str = "unknown"
    at: str = field(default_factory=utcnow)
    reason: str | None = None
    result: str = "completed"  # started | completed | failed
    op_id: str = field(default_factory=lambda: Event.new_op_id())
    details: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def new_op_id() -> str:
        return uuid.uuid4().hex[:12]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> Event:
        data = json.loads(text)
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def interrupted_operation(registry: Registry, name: str, action: str) -> Event | None:
    """The newest operation of the model if it is ``action`` and never finished (its process died).

    Call it while holding the model's lock: then no live process can own that operation.
    """
    newest = next(registry.iter_events(name), None)
    if newest is not None and newest.action == action and newest.result == "started":
        return newest
    return None
