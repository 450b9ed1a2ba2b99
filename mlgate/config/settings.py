"""One typed settings object, read from mlflow_config/mlgate.yaml and MLGATE_* / MLFLOW_* variables."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlgate.config.files import check_keys, mapping, read_yaml
from mlgate.exceptions import ConfigError

CONFIG_FILE = "mlgate.yaml"
DEFAULT_CONFIG_DIR = "mlflow_config"
DEFAULT_TRAFFIC_ROUTER = "registry"
SETTING_KEYS = frozenset(
    {
        "tracking_uri", "registry_uri", "artifact_root", "endpoint", "aliases",
        "lock_ttl_seconds", "lock_wait_seconds", "smoke_latency_budget_ms", "endpoint_wait_seconds",
        "prediction_store_url", "prediction_retention_rows", "poll_interval_seconds", "max_body_bytes",
        "serving_standby", "serving_batching", "traffic_router", "protected_aliases", "haproxy",
    }
)  # fmt: skip
FILE_KEYS = SETTING_KEYS | {"profiles"}  # a profile (profiles: {NAME: {...}}) may set any setting


@dataclass(frozen=True)
class Aliases:
    """The MLflow alias names that carry mlgate's stages."""

    staging: str = "staging"
    canary: str = "canary"
    production: str = "production"
    last_known_good: str = "last-known-good"
    shadow: str = "shadow"  # a candidate mirrored production requests (a rollout's shadow step); answers no one


PROTECTION_MODES = ("revert", "alert")


@dataclass(frozen=True)
class HAProxySettings:
    """Where ``traffic_router: haproxy`` finds HAProxy's runtime API and each version's pool (docs/guides)."""

    socket: str = "/run/haproxy/admin.sock"  # the stats socket (level admin); or host:port of a TCP one
    backend: str = "mlgate_{model}"  # the backend splitting a model's traffic; {model} is the model's name
    server: str = "v{version}"  # a version's pool: servers named so, or so plus _suffix (v3_a, v3_b)
    timeout_seconds: float = 5.0  # how long one runtime API command may take


@dataclass(frozen=True)
class ProtectedAliases:
    """What the webhook receiver does with an alias moved outside mlgate: ``revert`` (put it back where the
    history says, and alert) or ``alert`` (record and alert only)."""

    production: str = "alert"
    canary: str = "alert"
    staging: str = "alert"
    last_known_good: str = "alert"

    def mode(self, stage: str) -> str:
        """The mode of a stage (a field of Aliases); ``alert`` for one that is not protected."""
        return str(getattr(self, stage, "alert"))


@dataclass(frozen=True)
class Settings:
    """Everything mlgate needs to know about where the registry is and how to behave."""

    tracking_uri: str
    registry_uri: str
    artifact_root: str | None = None
    endpoint: str | None = None
    config_dir: Path | None = None
    aliases: Aliases = field(default_factory=Aliases)
    lock_ttl_seconds: float = 120.0
    lock_wait_seconds: float = 30.0
    smoke_latency_budget_ms: float = 2000.0
    endpoint_wait_seconds: float = 30.0
    admin_token: str | None = None
    feedback_token: str | None = None  # MLGATE_FEEDBACK_TOKEN: callers of the gateway's POST /feedback send it
    prediction_store_url: str | None = None  # default: predictions.db beside a sqlite store, else .mlgate/
    prediction_retention_rows: int = 100_000  # rows kept per model version in the prediction record
    poll_interval_seconds: float = 1.0  # how often a gateway reads the registry's aliases
    max_body_bytes: int = 5_000_000  # larger scoring requests get 413
    serving_standby: bool = True  # a following gateway keeps the last-known-good version loaded (off: half the memory)
    serving_batching: bool = True  # concurrent requests to a row-wise model share one predict call
    traffic_router: str = (
        DEFAULT_TRAFFIC_ROUTER  # "registry", an entry point of mlgate.traffic_routers, or module:factory
    )
    protected_aliases: ProtectedAliases = field(default_factory=ProtectedAliases)  # revert | alert per stage
    haproxy: HAProxySettings = field(default_factory=HAProxySettings)  # used with traffic_router: haproxy
    actor: str = "unknown"
    source: str = "defaults"

    def config_file(self, name: str) -> Path | None:
        """Path of another file in the config folder (policy.yaml, owners.yaml, ...), if it exists."""
        if self.config_dir is None:
            return None
        path = self.config_dir / name
        return path if path.exists() else None

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (used by tests and the CLI's global options)."""
        return replace(self, **changes)


def redact_uri(uri: str | None) -> str:
    """The URI with any password removed, safe to print or log."""
    if not uri:
        return str(uri)
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", uri)


def _resolve_store_uri(uri: str, base: Path) -> str:
    """Make a relative sqlite path or a plain folder absolute, relative to ``base``."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        rel = uri[len("sqlite:///") :]
        return "sqlite:///" + str((base / rel).resolve())
    if "://" not in uri:
        return str((base / uri).resolve())
    return uri


def _optional_store_uri(uri: Any, base: Path) -> str | None:
    return _resolve_store_uri(str(uri), base) if uri else None


def _find_config_dir(env: Mapping[str, str], cwd: Path) -> Path | None:
    explicit = env.get("MLGATE_CONFIG_DIR")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"MLGATE_CONFIG_DIR={explicit} is not a folder",
                "point it at the folder holding mlgate.yaml, or unset it",
            )
        return path.resolve()
    for folder in (cwd, *cwd.parents):
        candidate = folder / DEFAULT_CONFIG_DIR
        if (candidate / CONFIG_FILE).is_file():
            return candidate.resolve()
    return None


def _read_file(path: Path) -> dict[str, Any]:
    """mlgate.yaml, every key checked (profiles too, whichever is selected)."""
    data = read_yaml(path)
    check_keys(data, FILE_KEYS, str(path))
    for name, profile in mapping(data.get("profiles"), f"{path}: profiles").items():
        check_keys(mapping(profile, f"{path}: profiles.{name}"), SETTING_KEYS, f"{path}: profiles.{name}")
    return data


def _aliases(value: Any, where: str) -> Aliases:
    names = mapping(value, where)
    check_keys(names, Aliases.__dataclass_fields__, where)
    for key, name in names.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}.{key}: must be an alias name, got {name!r}", "write a name such as production")
    return Aliases(**names)


def _protected(value: Any, where: str) -> ProtectedAliases:
    modes = mapping(value, where)
    known = {name: name for name in ProtectedAliases.__dataclass_fields__}
    known |= {name.replace("_", "-"): name for name in list(known)}  # last-known-good, as the alias is spelled
    check_keys(modes, known, where)
    for key, mode in modes.items():
        if mode not in PROTECTION_MODES:
            raise ConfigError(f"{where}.{key}: must be revert or alert, got {mode!r}", "write revert or alert")
    return ProtectedAliases(**{known[str(key)]: mode for key, mode in modes.items()})


def _traffic_router(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{where}: traffic_router must be a name, got {value!r}",
            'write "registry", an entry point of group mlgate.traffic_routers, or module:factory',
        )
    return value.strip()


def _haproxy(value: Any, where: str, base: Path, socket: str | None) -> HAProxySettings:
    given = dict(mapping(value, where))
    check_keys(given, HAProxySettings.__dataclass_fields__, where)
    for key in ("socket", "backend", "server"):
        if key in given and (not isinstance(given[key], str) or not given[key].strip()):
            raise ConfigError(f"{where}.{key}: must be a name, got {given[key]!r}", "see docs/guides/haproxy.md")
    if "timeout_seconds" in given:
        given["timeout_seconds"] = _number(given["timeout_seconds"], "haproxy.timeout_seconds", where)
    path = socket or given.get("socket")
    if path and ":" not in path and not Path(path).is_absolute():
        path = str((base / path).resolve())  # a relative socket path is relative to the project root
    return HAProxySettings(**{**given, **({"socket": path} if path else {})})


def _number(value: Any, key: str, path: Any) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: {key} must be a number, got {value!r}", "fix the value") from None
    if result <= 0:
        raise ConfigError(f"{path}: {key} must be positive, got {value!r}", "fix the value")
    return result


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _flag(value: Any, key: str, path: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(f"{path}: {key} must be true or false, got {value!r}", "fix the value")


def load_settings(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Resolve settings: mlgate.yaml in the config folder, then MLGATE_* and MLFLOW_* variables.

    Never falls back to MLflow's implicit ``./mlflow.db``: without a configured tracking
    URI this raises ConfigError.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    config_dir = _find_config_dir(env, cwd)
    data: dict[str, Any] = {}
    source = "environment"
    if config_dir is not None:
        path = config_dir / CONFIG_FILE
        if path.is_file():
            data = _read_file(path)
            source = str(path)
    base = config_dir.parent if config_dir is not None else cwd
    profile_name = env.get("MLGATE_PROFILE")
    if profile_name:
        profiles = data.get("profiles") or {}
        if profile_name not in profiles:
            raise ConfigError(
                f"{source}: no profile {profile_name!r} (MLGATE_PROFILE)",
                f"profiles defined: {', '.join(sorted(profiles)) or 'none'}",
            )
        data = {**data, **(profiles[profile_name] or {})}

    tracking = env.get("MLGATE_TRACKING_URI") or env.get("MLFLOW_TRACKING_URI") or data.get("tracking_uri")
    if not tracking:
        raise ConfigError(
            "no MLflow tracking URI is configured",
            "set tracking_uri in mlflow_config/mlgate.yaml (run from the project root), "
            "or set MLFLOW_TRACKING_URI; mlgate never falls back to ./mlflow.db",
        )
    tracking = _resolve_store_uri(str(tracking), base if not env.get("MLFLOW_TRACKING_URI") else cwd)
    registry = env.get("MLGATE_REGISTRY_URI") or env.get("MLFLOW_REGISTRY_URI") or data.get("registry_uri")
    registry = _resolve_store_uri(str(registry), base) if registry else tracking
    artifact_root = env.get("MLGATE_ARTIFACT_ROOT") or data.get("artifact_root")
    if artifact_root:
        artifact_root = _resolve_store_uri(str(artifact_root), base)

    aliases = _aliases(data.get("aliases"), f"{source}: aliases")
    router = env.get("MLGATE_TRAFFIC_ROUTER") or data.get("traffic_router")
    router = DEFAULT_TRAFFIC_ROUTER if router is None else router  # null in the file: the default
    router_source = "MLGATE_TRAFFIC_ROUTER" if env.get("MLGATE_TRAFFIC_ROUTER") else source

    def num(key: str, default: float) -> float:
        raw = env.get("MLGATE_" + key.upper(), data.get(key, default))
        return _number(raw, key, source)

    return Settings(
        tracking_uri=tracking,
        registry_uri=registry,
        artifact_root=artifact_root,
        endpoint=env.get("MLGATE_ENDPOINT") or data.get("endpoint") or None,
        config_dir=config_dir,
        aliases=aliases,
        lock_ttl_seconds=num("lock_ttl_seconds", 120.0),
        lock_wait_seconds=num("lock_wait_seconds", 30.0),
        smoke_latency_budget_ms=num("smoke_latency_budget_ms", 2000.0),
        endpoint_wait_seconds=num("endpoint_wait_seconds", 30.0),
        admin_token=env.get("MLGATE_ADMIN_TOKEN") or None,
        feedback_token=env.get("MLGATE_FEEDBACK_TOKEN") or None,
        prediction_store_url=_optional_store_uri(
            env.get("MLGATE_PREDICTION_STORE_URL") or data.get("prediction_store_url"), base
        ),
        prediction_retention_rows=int(num("prediction_retention_rows", 100_000)),
        poll_interval_seconds=num("poll_interval_seconds", 1.0),
        max_body_bytes=int(num("max_body_bytes", 5_000_000)),
        serving_standby=_flag(
            env.get("MLGATE_SERVING_STANDBY") or data.get("serving_standby", True),
            "serving_standby",
            "MLGATE_SERVING_STANDBY" if env.get("MLGATE_SERVING_STANDBY") else source,
        ),
        serving_batching=_flag(
            env.get("MLGATE_SERVING_BATCHING") or data.get("serving_batching", True),
            "serving_batching",
            "MLGATE_SERVING_BATCHING" if env.get("MLGATE_SERVING_BATCHING") else source,
        ),
        traffic_router=_traffic_router(router, router_source),
        protected_aliases=_protected(data.get("protected_aliases"), f"{source}: protected_aliases"),
        haproxy=_haproxy(data.get("haproxy"), f"{source}: haproxy", base, env.get("MLGATE_HAPROXY_SOCKET")),
        actor=env.get("MLGATE_ACTOR") or _default_actor(env),
        source=source,
    )


def _default_actor(env: Mapping[str, str]) -> str:
    user = env.get("MLFLOW_TRACKING_USERNAME")
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"
