"""State kept whole as JSON in one registered-model tag (a rollout, a watch): written in one call, read back typed."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, TypeVar

from mlgate.exceptions import MlgateError

if TYPE_CHECKING:
    from mlgate.registry.client import Registry

T = TypeVar("T")


def load_tagged(registry: Registry, name: str, key: str, cls: type[T], what: str, hint: str) -> T | None:
    """The dataclass ``cls`` stored in tag ``key`` of model ``name`` (unknown fields ignored), or None.

    A tag that does not parse is an MlgateError naming ``what`` and the tag, with ``hint``.
    """
    raw = registry.model_tags(name).get(key)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in fields})
    except (ValueError, TypeError, KeyError, AttributeError):
        raise MlgateError(f"the {what} on {name!r} (tag {key}) is unreadable", hint) from None


def save_tagged(registry: Registry, name: str, key: str, state: Any) -> None:
    """Write the dataclass ``state`` whole into tag ``key`` of model ``name`` (one write, no read)."""
    registry.set_model_tag(name, key, json.dumps(dataclasses.asdict(state), sort_keys=True, default=str))
