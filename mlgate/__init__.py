"""mlgate: a release gate, staged rollout, one-command rollback and monitoring on the MLflow registry."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("connect", "register", "promote", "rollback", "smoke", "status", "history")

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    # The API imports MLflow (about a second): load it on first use, not on `import mlgate`.
    if name in _API:
        from mlgate import api

        return getattr(api, name)
    raise AttributeError(f"module 'mlgate' has no attribute {name!r}")
