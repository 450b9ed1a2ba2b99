"""Throwaway PostgreSQL and MLflow servers for the team-setup tests, each started once per session.

Registered from tests/conftest.py. Without PostgreSQL's server binaries the tests that need them
are skipped with a message saying how to install them (never silently).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from mlgate.config import Settings
from mlgate.registry import Registry

PG_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install them with "
    "`apt-get install postgresql` (Debian/Ubuntu; .ci/run does it in CI) or point PG_BINDIR at their folder"
)
VENV_BIN = Path(sys.executable).parent
QUIET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


_CLEANUPS: list[Any] = []


def _on_exit(stop: Any) -> None:
    """Run ``stop`` at interpreter exit and on SIGTERM (a CI timeout), so no server outlives the session."""
    atexit.register(stop)
    _CLEANUPS.append(stop)
    if len(_CLEANUPS) == 1 and threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Any) -> None:
            for cleanup in reversed(_CLEANUPS):
                with contextlib.suppress(Exception):
                    cleanup()
            signal.signal(signal.SIGTERM, previous if callable(previous) else signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)


def find_pg_bindir() -> Path | None:
    """The folder of initdb/pg_ctl: $PG_BINDIR, the newest Debian install, or the PATH."""
    explicit = os.environ.get("PG_BINDIR")
    candidates = [Path(explicit)] if explicit else []
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2].split(".")[0]))
    candidates += [Path(p) for p in reversed(found)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a server subprocess: no MLFLOW_* / MLGATE_* leaking in, the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLGATE_", "PG"))}
    env.update(QUIET)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


class Postgres:
    """A PostgreSQL cluster in a temporary folder on a free loopback port, run by an unprivileged user."""

    user = "mlgate"

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.password = secrets.token_urlsafe(16)
        self.port = free_port()
        # pytest's temporary folders are private to root; the server user needs its own folder.
        self.root = Path(tempfile.mkdtemp(prefix="mlgate-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            account = _unprivileged_account()
            os.chown(self.root, pwd.getpwnam(account).pw_uid, pwd.getpwnam(account).pw_gid)
            self.run_as = ["runuser", "-u", account, "--"]
        self.started = False

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.run_as, *args], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr.strip()[-2000:]}\n{log}")

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.run_as:
            shutil.chown(pwfile, user=self.run_as[2])
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.user, "-A", "scram-sha-256",
            f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        pwfile.unlink()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")
        self.started = True
        _on_exit(self.stop)

    def uri(self, database: str, with_password: bool = False) -> str:
        """SQLAlchemy URI of a database; without the password (servers get it from PGPASSWORD).

        ``+psycopg2``: SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which is not installed.
        """
        auth = f"{self.user}:{self.password}" if with_password else self.user
        return f"postgresql+psycopg2://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create a database and return its URI (password-free)."""
        import psycopg2

        conn = psycopg2.connect(self.uri("postgres", with_password=True).replace("+psycopg2", ""))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.uri(name)

    def stop(self) -> None:
        if self.started:
            self.started = False
            with contextlib.suppress(Exception):
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged_account() -> str:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' account exists")


class MlflowServer:
    """`mlflow server` as a subprocess (its own process group) on a free loopback port."""

    def __init__(
        self,
        backend_store_uri: str,
        artifacts: Path,
        log: Path,
        env: dict[str, str],
        app_name: str | None = None,
        workers: int = 1,
    ) -> None:
        self.backend_store_uri = backend_store_uri
        self.artifacts = artifacts
        self.log = log
        self.env = env
        self.app_name = app_name
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        cmd = [
            str(VENV_BIN / "mlflow"), "server", "--backend-store-uri", self.backend_store_uri,
            "--serve-artifacts", "--artifacts-destination", str(self.artifacts),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
        ]  # fmt: skip
        if self.app_name:
            cmd += ["--app-name", self.app_name]
        return cmd

    def start(self, timeout: float = 90.0) -> float:
        """Start and wait for /health; returns the seconds it took."""
        began = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.log.parent,
                start_new_session=True,
            )
        _on_exit(self.stop)
        while time.monotonic() - began < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({self.proc.returncode}):\n{self.tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return time.monotonic() - began
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer /health within {timeout:.0f}s:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def _signal_group(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the server and its workers at once, as a crash would."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stray workers
        self.proc = None

    def ensure_up(self) -> None:
        """Restart the server on the same port and store if a test left it down."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()


def server_settings(url: str, folder: Path, **overrides: Any) -> Settings:
    """Client settings for an MLflow server (artifacts go through the server's proxy)."""
    folder.mkdir(parents=True, exist_ok=True)
    base: dict[str, Any] = {
        "tracking_uri": url,
        "registry_uri": url,
        "artifact_root": None,
        "config_dir": folder,
        "actor": "tester",
        "lock_wait_seconds": 10.0,
    }
    base.update(overrides)
    return Settings(**base)


# --- session fixtures --------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One throwaway PostgreSQL for the whole session (skipped, with how to install it, if absent)."""
    bindir = find_pg_bindir()
    if bindir is None:
        pytest.skip(PG_INSTALL_HINT)
    pg = Postgres(bindir)
    pg.start()
    yield pg
    pg.stop()


def _server_env(pg: Postgres, **extra: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return clean_env(
        PGPASSWORD=pg.password,
        # Webhook secrets are encrypted with this key; without it every worker makes its own.
        MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        MLFLOW_WEBHOOK_ALLOWED_SCHEMES="http,https",
        MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS="true",
        MLFLOW_WEBHOOK_CACHE_TTL="1",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",  # GenAI job workers: 6 more processes mlgate never uses
        **extra,
    )


@pytest.fixture(scope="session")
def team_server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """`mlflow server` on the PostgreSQL store with proxied artifacts: the team setup."""
    folder = tmp_path_factory.mktemp("team-server")
    uri = postgres.create_database("mlflow_team")
    server = MlflowServer(uri, folder / "artifacts", folder / "server.log", _server_env(postgres))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def team_model_uri(team_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One tiny model logged through the team server (artifacts uploaded through its proxy)."""
    from mlgate.testing import log_tiny_model

    os.environ.update(QUIET)
    settings = server_settings(team_server.url, tmp_path_factory.mktemp("team-client"))
    return log_tiny_model(settings)


@dataclass
class AuthServer:
    """An MLflow server with the basic-auth app, and its admin's credentials."""

    server: MlflowServer
    admin: str
    admin_password: str

    @property
    def url(self) -> str:
        return self.server.url

    def create_user(self, username: str, password: str) -> None:
        from mlflow.server.auth.client import AuthServiceClient

        with credentials(self.admin, self.admin_password):
            AuthServiceClient(self.url).create_user(username, password)

    def grant(self, username: str, model: str, permission: str) -> None:
        from mlflow.server.auth.client import AuthServiceClient

        with credentials(self.admin, self.admin_password):
            AuthServiceClient(self.url).grant_user_permission(username, "registered_model", model, permission)


@contextlib.contextmanager
def credentials(username: str, password: str) -> Iterator[None]:
    """Set MLflow's own credential variables for a block."""
    old = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"] = username
    os.environ["MLFLOW_TRACKING_PASSWORD"] = password
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def auth_server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """`mlflow server --app-name basic-auth` on its own PostgreSQL databases."""
    folder = tmp_path_factory.mktemp("auth-server")
    store = postgres.create_database("mlflow_auth_store")
    users = postgres.create_database("mlflow_auth_users")
    admin_password = secrets.token_urlsafe(16)
    ini = folder / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = {users}\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 60\n"  # PBKDF2 on every request is slow
    )
    env = _server_env(
        postgres,
        MLFLOW_AUTH_CONFIG_PATH=str(ini),
        MLFLOW_AUTH_ADMIN_PASSWORD=admin_password,
        MLFLOW_FLASK_SERVER_SECRET_KEY=secrets.token_hex(16),
    )
    server = MlflowServer(store, folder / "artifacts", folder / "server.log", env, app_name="basic-auth")
    server.start()
    yield AuthServer(server, "admin", admin_password)
    server.stop()


# --- the backend parametrisation -----------------------------------------------------------
@dataclass
class Backend:
    """One registry to run a scenario on: its kind, client settings, a logged model and a fresh model name."""

    kind: str  # "sqlite" | "postgres-server"
    settings: Settings
    registry: Registry
    model_uri: str
    name: str


@pytest.fixture(params=["sqlite", "postgres-server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The same scenario on a sqlite file and on an MLflow server over PostgreSQL."""
    name = f"team-{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        settings = request.getfixturevalue("settings")
        return Backend("sqlite", settings, Registry.from_settings(settings), request.getfixturevalue("model_uri"), name)
    server: MlflowServer = request.getfixturevalue("team_server")
    server.ensure_up()
    uri = request.getfixturevalue("team_model_uri")
    settings = server_settings(server.url, tmp_path / "mlflow_config")
    return Backend("postgres-server", settings, Registry.from_settings(settings), uri, name)
