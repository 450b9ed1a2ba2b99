"""Which router moves a model's traffic: the one passed in, else the one mlgate.yaml names (``traffic_router``)."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import ConfigError
from mlgate.traffic.recorded import RecordedRouter
from mlgate.traffic.registry_router import RegistryRouter
from mlgate.traffic.router import TrafficRouter

if TYPE_CHECKING:
    from mlgate.config import Settings
    from mlgate.registry import Registry

BUILT_IN = "registry"
ENTRY_POINT_GROUP = "mlgate.traffic_routers"  # each names a factory(settings, model_name) -> TrafficRouter
SHIPPED = {"haproxy": "mlgate.traffic.haproxy:from_settings"}  # routers that come with mlgate, loaded when named


def router_for(registry: Registry, name: str, router: TrafficRouter | None = None) -> TrafficRouter:
    """The router for model ``name``: ``router`` if given, else the configured one; always recorded in the registry."""
    record = RegistryRouter(registry, name)
    chosen = router if router is not None else configured_router(registry.settings, name)
    if chosen is None or isinstance(chosen, RegistryRouter | RecordedRouter):
        return chosen or record
    return RecordedRouter(record, chosen)


def configured_router(settings: Settings, name: str) -> TrafficRouter | None:
    """The router ``traffic_router`` names: None for the built-in one, else what its factory builds."""
    spec = (getattr(settings, "traffic_router", None) or BUILT_IN).strip()
    if spec == BUILT_IN:
        return None
    factory = _factory(SHIPPED.get(spec, spec))
    try:
        made = factory(settings, name)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's failure must reach the user as a clear error
        raise ConfigError(
            f"traffic_router {spec!r} failed to build a router for {name!r}: {type(exc).__name__}: {exc}",
            "fix the router's configuration, or set traffic_router: registry in mlgate.yaml",
        ) from None
    if not isinstance(made, TrafficRouter):
        raise ConfigError(
            f"traffic_router {spec!r} built a {type(made).__name__}, which is not a TrafficRouter",
            "its factory must return an object with set_production, set_canary, clear_canary, promote_canary, "
            "set_shadow, clear_shadow, state and describe (see mlgate.traffic.TrafficRouter)",
        )
    return made


def _factory(spec: str) -> Any:
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"traffic_router {spec!r} cannot be loaded: {exc}",
                "name an importable module:factory, an installed router, or registry",
            ) from None
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if spec not in found:
        known = ", ".join(sorted([BUILT_IN, *SHIPPED, *found]))
        raise ConfigError(
            f"traffic_router {spec!r} is not a known router (known: {known})",
            f"install the package that provides it (entry point group {ENTRY_POINT_GROUP}), or use module:factory",
        )
    return found[spec].load()
