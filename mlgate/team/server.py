"""The `mlflow server` command line for the configured store: the embedded default or a team profile."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.config import Settings, redact_uri
from mlgate.config.files import check_keys, read_yaml
from mlgate.exceptions import ConfigError
from mlgate.extras import require_extra

SERVER_KEYS = {
    "backend_store_uri", "registry_store_uri", "artifacts_destination", "host", "port", "workers",
    "app_name", "allow_loopback_webhooks", "job_execution",
}  # fmt: skip
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class ServerPlan:
    """Everything `mlflow server` is started with; ``describe()`` is safe to print, ``argv`` is not."""

    profile: str
    backend_store_uri: str
    artifacts_destination: str
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 2
    registry_store_uri: str | None = None
    app_name: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def argv(self) -> list[str]:
        """The full command line (it may hold credentials if the store URI does: never print it)."""
        argv = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", self.backend_store_uri,
            "--serve-artifacts", "--artifacts-destination", self.artifacts_destination,
            "--host", self.host, "--port", str(self.port), "--workers", str(self.workers),
        ]  # fmt: skip
        if self.registry_store_uri:
            argv += ["--registry-store-uri", self.registry_store_uri]
        if self.app_name:
            argv += ["--app-name", self.app_name]
        return argv

    def describe(self) -> str:
        """One paragraph for the operator, with every password redacted."""
        lines = [
            f"MLflow server ({self.profile} profile) on {self.url}",
            f"  backend store:  {redact_uri(self.backend_store_uri)}",
            f"  artifacts:      {redact_uri(self.artifacts_destination)} (served through the server)",
        ]
        if self.registry_store_uri:
            lines.append(f"  registry store: {redact_uri(self.registry_store_uri)}")
        if self.app_name:
            lines.append(f"  app:            {self.app_name}")
        lines.append(f"  clients:        MLFLOW_TRACKING_URI={self.url}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A redacted, JSON-ready view of the plan."""
        return {
            "profile": self.profile,
            "url": self.url,
            "backend_store_uri": redact_uri(self.backend_store_uri),
            "registry_store_uri": redact_uri(self.registry_store_uri) if self.registry_store_uri else None,
            "artifacts_destination": redact_uri(self.artifacts_destination),
            "app_name": self.app_name,
            "env": sorted(self.env),
            "warnings": self.warnings,
        }


def plan_server(
    settings: Settings,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
    host: str | None = None,
    port: int | None = None,
) -> ServerPlan:
    """Build the server plan: ``profile`` reads ``<config dir>/<profile>.yaml``; none serves the embedded store.

    Store URIs and the artifact destination may come from MLGATE_BACKEND_STORE_URI /
    MLGATE_ARTIFACTS_DESTINATION; database passwords belong in PGPASSWORD or ~/.pgpass, never
    in the file.
    """
    env = os.environ if env is None else env
    if profile:
        data = _read_profile(settings, profile)
    else:
        data = _embedded_profile(settings)
        profile = "embedded"
    data = {k: v for k, v in data.items() if v is not None}
    backend = env.get("MLGATE_BACKEND_STORE_URI") or data.get("backend_store_uri")
    artifacts = env.get("MLGATE_ARTIFACTS_DESTINATION") or data.get("artifacts_destination")
    if not backend or not artifacts:
        raise ConfigError(
            f"the {profile} server profile needs backend_store_uri and artifacts_destination",
            "set them in the profile file or in MLGATE_BACKEND_STORE_URI / MLGATE_ARTIFACTS_DESTINATION",
        )
    base = settings.config_dir.parent if settings.config_dir else Path.cwd()
    backend = _absolute_store(str(backend), base)
    artifacts = _absolute_store(str(artifacts), base)
    host = host or str(data.get("host", "127.0.0.1"))
    port = int(port or data.get("port", 5000))
    server_env: dict[str, str] = {}
    warnings: list[str] = []
    if not data.get("job_execution", False):
        # MLflow's GenAI job runner starts six extra processes; the registry never needs them.
        server_env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    if data.get("allow_loopback_webhooks"):
        server_env["MLFLOW_WEBHOOK_ALLOWED_SCHEMES"] = "http,https"
        server_env["MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"] = "true"
    if backend.startswith("postgresql"):
        require_extra("postgres", "a PostgreSQL backend store")
    if data.get("app_name") == "basic-auth":
        require_extra("team", "the basic-auth MLflow server")
    if backend.startswith("postgresql://"):
        backend = "postgresql+psycopg2://" + backend[len("postgresql://") :]  # SQLAlchemy 2.1 defaults to psycopg 3
    if not env.get("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY") and not backend.startswith("sqlite"):
        warnings.append(
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY is not set: webhook secrets become unreadable after a restart "
            "and differ between workers (set it to a Fernet key kept with your other secrets)"
        )
    if host not in LOOPBACK and data.get("app_name") != "basic-auth":
        warnings.append(f"listening on {host} without authentication: add app_name: basic-auth to the profile")
    if data.get("app_name") == "basic-auth" and not env.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        raise ConfigError(
            "the basic-auth app needs MLFLOW_FLASK_SERVER_SECRET_KEY",
            "export it (the same value on every server) and MLFLOW_AUTH_ADMIN_PASSWORD for the first start",
        )
    return ServerPlan(
        profile=profile,
        backend_store_uri=backend,
        artifacts_destination=artifacts,
        host=host,
        port=port,
        workers=int(data.get("workers", 2)),
        registry_store_uri=data.get("registry_store_uri"),
        app_name=data.get("app_name"),
        env=server_env,
        warnings=warnings,
    )


def server_environment(plan: ServerPlan, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to run the server in: the caller's, the plan's extras, the venv first on PATH."""
    merged = dict(os.environ if env is None else env)
    merged.update(plan.env)
    merged.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    bin_dir = str(Path(sys.executable).parent)
    merged["PATH"] = bin_dir + os.pathsep + merged.get("PATH", "")
    return merged


def exec_server(plan: ServerPlan) -> None:
    """Replace this process with `mlflow server` (signals then reach MLflow directly)."""
    for uri in (plan.backend_store_uri, plan.registry_store_uri or ""):
        if uri.startswith("sqlite:///"):
            Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    if "://" not in plan.artifacts_destination:
        Path(plan.artifacts_destination).mkdir(parents=True, exist_ok=True)
    os.execve(sys.executable, plan.argv, server_environment(plan))


def _read_profile(settings: Settings, profile: str) -> dict[str, Any]:
    if settings.config_dir is None:
        raise ConfigError(f"no config folder to read the {profile!r} server profile from", "run from the project root")
    path = settings.config_dir / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in settings.config_dir.glob("*.yaml") if _is_server_profile(p))
        raise ConfigError(f"no server profile {path}", f"server profiles: {', '.join(known) or 'none'}")
    data = read_yaml(path)
    check_keys(data, SERVER_KEYS, str(path))
    return data


def _is_server_profile(path: Path) -> bool:
    try:
        return "backend_store_uri" in read_yaml(path)
    except ConfigError:
        return False


def _embedded_profile(settings: Settings) -> dict[str, Any]:
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://", "databricks")):
        raise ConfigError(
            f"the tracking URI {redact_uri(uri)} is already a server, so there is no local store to serve",
            "unset MLFLOW_TRACKING_URI / MLGATE_PROFILE, or start a server profile with --profile team",
        )
    artifacts = settings.artifact_root
    if not artifacts:
        artifacts = (
            str(Path(uri[len("sqlite:///") :]).parent / "artifacts")
            if uri.startswith("sqlite:///")
            else ".mlgate/artifacts"
        )
    return {"backend_store_uri": uri, "artifacts_destination": artifacts}


def _absolute_store(uri: str, base: Path) -> str:
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((base / uri[len("sqlite:///") :]).resolve())
    if "://" not in uri:
        return str((base / uri).resolve())
    return uri
