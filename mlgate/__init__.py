"""mlgate: a release gate, staged rollout, one-command rollback and monitoring on the MLflow registry."""

from __future__ import annotations

import sys
import types
from typing import Any

__version__ = "0.1.0"

_API = (
    "connect",
    "register",
    "check",
    "promote",
    "rollback",
    "smoke",
    "status",
    "history",
    "which",
    "reproduce",
    "monitor",
    "runbook",
    "rollout_start",
    "rollout_advance",
    "rollout_pause",
    "rollout_resume",
    "rollout_abort",
    "rollout_status",
    "rollout_run",
    "watch",
)

__all__ = ["__version__", *_API]


def _api_function(name: str) -> property:
    def get(_module: types.ModuleType) -> Any:
        from mlgate import api  # imports MLflow (about a second): only on first use

        return getattr(api, name)

    def keep_the_function(_module: types.ModuleType, _value: Any) -> None:
        """Loading the submodule of the same name (mlgate.rollback, ...) must not hide the function."""

    return property(get, keep_the_function, doc=f"mlgate.api.{name}")


class _Package(types.ModuleType):
    """`mlgate.rollback(...)` is always the API function, even once the module mlgate.rollback is loaded.

    Code inside mlgate imports its modules by full path (`from mlgate.rollback import ...`).
    """

    locals().update({_name: _api_function(_name) for _name in _API})


sys.modules[__name__].__class__ = _Package
