"""Check specs: what a built-in check is (area, function, parameter rules) and the parameter validators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlgate.exceptions import PolicyError

Validator = Callable[..., dict[str, Any]]  # (params, key, partial=False) -> checked params


@dataclass(frozen=True)
class CheckSpec:
    """A built-in check: its area, its function and how its parameters are checked."""

    name: str
    area: str
    fn: Callable[..., Any]
    validate: Validator


def no_params(params: dict[str, Any], key: str, partial: bool = False) -> dict[str, Any]:
    """For checks that take no parameters."""
    if params:
        raise PolicyError(f"{key}: takes no parameters, got {', '.join(map(str, params))}", "remove them")
    return params


def allowed_params(required: tuple[str, ...] = (), **rules: Callable[[Any, str], Any]) -> Validator:
    """A validator accepting only the named parameters (``required`` ones must be set), each checked by its rule."""

    def validate(params: dict[str, Any], key: str, partial: bool = False) -> dict[str, Any]:
        for name in () if partial else required:
            if params.get(name) is None:
                raise PolicyError(f"{key}: parameter {name!r} is required", "set it under checks: in the policy")
        unknown = sorted(set(map(str, params)) - set(rules))
        if unknown:
            raise PolicyError(
                f"{key}: unknown parameter(s) {', '.join(unknown)}", f"parameters: {', '.join(rules) or 'none'}"
            )
        return {name: rule(params[name], f"{key}.{name}") for name, rule in rules.items() if name in params}

    return validate


def number(value: Any, key: str, minimum: float | None = None) -> float:
    """A threshold that must be a number (not a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyError(f"{key}: must be a number, got {value!r}", "write a plain number, e.g. 0.9")
    if minimum is not None and value < minimum:
        raise PolicyError(f"{key}: must be at least {minimum}, got {value!r}", "fix the threshold")
    return float(value)


def boolean(value: Any, key: str) -> bool:
    """A switch that must be true or false (not a string such as "yes")."""
    if not isinstance(value, bool):
        raise PolicyError(f"{key}: must be true or false, got {value!r}", "fix the value")
    return value
