"""The only code that talks to MlflowClient: versions, aliases, tags, runs, artifacts, events and the lock."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mlgate.config import Settings, redact_uri
from mlgate.exceptions import (
    MlgateError,
    ModelNotFound,
    PermissionDenied,
    RegistryError,
    RegistryUnavailable,
    VersionNotFound,
)
from mlgate.extras import require_extra
from mlgate.registry import describe, history, keys
from mlgate.registry.compat import check_mlflow_once
from mlgate.registry.events import Event
from mlgate.registry.lock import LockInfo, hold_lock, lock_holder
from mlgate.registry.uris import mlflow_uris

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from mlflow.tracking import MlflowClient

T = TypeVar("T")

# MLflow retries an unreachable server for minutes by default; an operator wants an answer.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
}


def _is_unreachable(exc: BaseException) -> bool:
    text = str(exc)
    markers = (
        "Max retries exceeded",
        "Connection refused",
        "Failed to establish",
        "timed out",
        "Connection broken",
        "Connection aborted",
        "RemoteDisconnected",
        "IncompleteRead",
    )
    return any(m in text for m in markers) or type(exc).__name__ in {"ConnectionError", "Timeout"}


class Registry:
    """mlgate's view of one MLflow registry. Takes its client; never reaches for globals."""

    is_unreachable = staticmethod(_is_unreachable)

    def __init__(self, client: MlflowClient, settings: Settings, clock: Callable[[], float] = time.time):
        self.client = client
        self.settings = settings
        self.clock = clock
        self.history_experiments: dict[str, str] = {}  # name -> id of a model's history (or approvals) experiment

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        """Build a registry on a fresh MlflowClient for the configured URIs."""
        for key, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        check_mlflow_once()
        for uri in (settings.tracking_uri, settings.registry_uri):
            if uri.startswith("sqlite:///"):
                Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
            if uri.startswith("postgresql"):
                require_extra("postgres", "a PostgreSQL tracking store")
        from mlflow.tracking import MlflowClient

        try:
            client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.registry_uri)
        except Exception as exc:  # noqa: BLE001 - any failure here is the store's
            raise RegistryUnavailable(
                f"cannot open the MLflow registry at {redact_uri(settings.tracking_uri)}: {first_line(exc)}",
                "check tracking_uri in mlflow_config/mlgate.yaml or MLFLOW_TRACKING_URI",
            ) from None
        return cls(client, settings)

    # --- error translation ----------------------------------------------------------
    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one MlflowClient call, turning its failures into MlgateErrors that say what to do."""
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlgateError:
            raise
        except MlflowException as exc:
            raise self._translate(what, exc) from None
        except Exception as exc:  # noqa: BLE001 - network and store errors of every kind
            if _is_unreachable(exc):
                raise self._unreachable(what) from None
            raise RegistryError(f"{what} failed: {first_line(exc)}", "see the MLflow server's log") from None

    def _unreachable(self, what: str) -> RegistryUnavailable:
        return RegistryUnavailable(
            f"cannot reach the MLflow tracking server at {redact_uri(self.settings.tracking_uri)} ({what})",
            "start it (make server) or fix MLFLOW_TRACKING_URI / tracking_uri in mlflow_config/mlgate.yaml",
        )

    def _translate(self, what: str, exc: Any) -> MlgateError:
        code = getattr(exc, "error_code", "")
        message = first_line(exc)
        if code in ("PERMISSION_DENIED", "UNAUTHENTICATED") or "Permission denied" in message:
            return PermissionDenied(
                f"{what}: the registry refused: {message}",
                "ask the model's owner for EDIT permission (MANAGE to delete aliases), "
                "or set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD",
            )
        if _is_unreachable(exc):
            return self._unreachable(what)
        return RegistryError(f"{what} failed: {message}", "check the arguments and the MLflow server's log")

    # --- reading --------------------------------------------------------------------
    def model(self, name: str) -> RegisteredModel:
        """The registered model, or ModelNotFound naming the models that exist."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(name)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                raise ModelNotFound(
                    f"no registered model named {name!r}",
                    f"registered models: {', '.join(self.model_names()[:20]) or 'none'}",
                ) from None
            raise self._translate(f"reading model {name!r}", exc) from None
        except Exception as exc:
            if _is_unreachable(exc):
                raise self._unreachable(f"reading model {name!r}") from None
            raise

    def model_names(self) -> list[str]:
        """Names of every registered model, without mlgate's lock models."""
        models = self.call("listing models", self.client.search_registered_models, max_results=1000)
        return sorted(m.name for m in models if not m.name.startswith(keys.LOCK_MODEL_PREFIX))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of the model, oldest first."""
        self.model(name)
        found = self.call(
            f"listing versions of {name!r}",
            self.client.search_model_versions,
            f"name = '{_quote(name)}'",
            max_results=10000,
        )
        return sorted(found, key=lambda mv: int(mv.version))

    def version(self, name: str, version: str | int) -> ModelVersion:
        """One version, or VersionNotFound naming the versions that exist."""
        from mlflow.exceptions import MlflowException

        model = self.model(name)
        try:
            return self.client.get_model_version(name, str(version))
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                existing = [str(mv.version) for mv in self.versions(model.name)]
                raise VersionNotFound(
                    f"model {name!r} has no version {version!r}",
                    f"versions: {', '.join(existing) or 'none'}",
                ) from None
            raise self._translate(f"reading {name} v{version}", exc) from None

    def aliases(self, name: str) -> dict[str, str]:
        """alias -> version for the model (read from the registered model: versions lack them)."""
        return {alias: str(v) for alias, v in (self.model(name).aliases or {}).items()}

    def model_tags(self, name: str) -> dict[str, str]:
        return dict(self.model(name).tags or {})

    # --- writing --------------------------------------------------------------------
    def ensure_model(self, name: str, description: str | None = None) -> None:
        """Create the registered model if it does not exist yet."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name, description=description)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise self._translate(f"creating model {name!r}", exc) from None
        except Exception as exc:
            if _is_unreachable(exc):
                raise self._unreachable(f"creating model {name!r}") from None
            raise

    def resolve_model_uri(self, model_uri: str) -> tuple[str, str | None, str | None]:
        """(source, run_id, model_id) for ``models:/m-...``, ``runs:/...`` or a local path."""
        if model_uri.startswith("models:/m-"):
            model_id = model_uri[len("models:/") :].split("/")[0]
            logged = self.call(f"reading logged model {model_id}", self.client.get_logged_model, model_id)
            return f"models:/{model_id}", logged.source_run_id, model_id
        if model_uri.startswith("runs:/"):
            run_id, _, path = model_uri[len("runs:/") :].partition("/")
            run = self.call(f"reading run {run_id}", self.client.get_run, run_id)
            found = self.call(
                f"finding the model logged at {path!r} in run {run_id}",
                self.client.search_logged_models,
                experiment_ids=[run.info.experiment_id],
                filter_string=f"source_run_id = '{run_id}' AND name = '{_quote(path)}'",
            )
            if not found:
                raise RegistryError(
                    f"run {run_id} has no logged model named {path!r}",
                    "pass the URI log_model returned (models:/m-...) or runs:/<run id>/<name>",
                )
            model_id = found[-1].model_id
            return f"models:/{model_id}", run_id, model_id
        if model_uri.startswith("models:/"):
            raise RegistryError(
                f"{model_uri} names a registered model; register a logged model instead",
                "pass the URI log_model returned (models:/m-...) or runs:/<run id>/<name>",
            )
        return model_uri, None, None

    def create_version(
        self, name: str, model_uri: str, tags: dict[str, str], description: str, run_id: str | None = None
    ) -> ModelVersion:
        """Register ``model_uri`` as a new version of ``name`` with its tags and description.

        ``run_id`` links the version to a run other than the one that logged the model."""
        source, own_run, model_id = self.resolve_model_uri(model_uri)
        run_id = run_id or own_run
        self.ensure_model(name)
        with mlflow_uris(self.settings):  # the store resolves models:/m-... through the global URI
            return self.call(
                f"registering a version of {name!r}",
                self.client.create_model_version,
                name=name,
                source=source,
                run_id=run_id,
                tags=tags,
                description=description,
                model_id=model_id,
            )

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` and read it back (MLflow has no compare-and-set)."""
        self.call(f"setting alias {alias!r}", self.client.set_registered_model_alias, name, alias, str(version))
        actual = self.aliases(name).get(alias)
        if actual != str(version):
            raise RegistryError(
                f"alias {alias!r} of {name!r} reads back as {actual!r}, not {version!r}: "
                "someone moved it at the same time",
                "run `mlgate history` to see who, then run the command again",
            )

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` if it exists, and verify it is gone."""
        if alias not in self.aliases(name):
            return
        self.call(f"deleting alias {alias!r}", self.client.delete_registered_model_alias, name, alias)
        if alias in self.aliases(name):
            raise RegistryError(f"alias {alias!r} of {name!r} is still set after deleting it", "run again")

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.call(f"tagging {name} v{version}", self.client.set_model_version_tag, name, str(version), key, value)

    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        tags = self.version(name, version).tags or {}
        if key in tags:
            self.call(f"untagging {name} v{version}", self.client.delete_model_version_tag, name, str(version), key)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self.call(f"tagging model {name!r}", self.client.set_registered_model_tag, name, key, value)

    def delete_model_tag(self, name: str, key: str) -> None:
        if key in self.model_tags(name):
            self.call(f"untagging model {name!r}", self.client.delete_registered_model_tag, name, key)

    # --- artifacts attached to a version ------------------------------------------------
    def record_run_id(self, name: str, version: str) -> str:
        """The run that holds mlgate's artifacts for a version: its source run, or one made for it."""
        mv = self.version(name, version)
        if mv.run_id:
            return str(mv.run_id)
        existing = (mv.tags or {}).get(keys.RECORD_RUN)
        if existing:
            return existing
        experiment_name = f"mlgate-records/{name}"
        experiment = self.call("reading experiment", self.client.get_experiment_by_name, experiment_name)
        if experiment is None:
            kwargs = {}
            if self.settings.artifact_root:
                kwargs["artifact_location"] = f"{self.settings.artifact_root}/mlgate-records/{name}"
            experiment_id = self.call("creating experiment", self.client.create_experiment, experiment_name, **kwargs)
        else:
            experiment_id = experiment.experiment_id
        run = self.call("creating record run", self.client.create_run, experiment_id, run_name=f"{name}-v{version}")
        self.call("closing record run", self.client.set_terminated, run.info.run_id)
        self.set_version_tag(name, version, keys.RECORD_RUN, run.info.run_id)
        return str(run.info.run_id)

    def log_version_artifact(self, name: str, version: str, local_path: str | Path, artifact_dir: str) -> str:
        """Upload a file next to the version's model; returns its artifact path."""
        run_id = self.record_run_id(name, version)
        self.call("uploading an artifact", self.client.log_artifact, run_id, str(local_path), artifact_dir)
        return f"{artifact_dir}/{Path(local_path).name}"

    def list_run_artifacts(self, run_id: str, path: str | None = None) -> list[str]:
        """The artifact paths directly under ``path`` (the run's root when None) of run ``run_id``."""
        listed = self.call("listing artifacts", self.client.list_artifacts, run_id, path)
        return [str(f.path) for f in listed]

    def download_version_artifact(self, name: str, version: str, artifact_path: str, dst: str | Path) -> Path:
        """Download one of the version's artifacts into ``dst``."""
        run_id = self.record_run_id(name, version)
        from mlflow.artifacts import download_artifacts

        with mlflow_uris(self.settings):
            local = self.call(
                f"downloading {artifact_path}",
                download_artifacts,
                run_id=run_id,
                artifact_path=artifact_path,
                dst_path=str(dst),
                tracking_uri=self.settings.tracking_uri,
            )
        return Path(local)

    def run(self, run_id: str) -> Any:
        """The MLflow run ``run_id`` (params, metrics, tags)."""
        return self.call(f"reading run {run_id}", self.client.get_run, run_id)

    # --- history (mlgate.registry.history) ---------------------------------------------
    def record_event(self, event: Event) -> None:
        """Append one event as its own run: no read-modify-write, so no event is ever lost."""
        history.write(self, event)
        describe.after_event(self, event)  # the MLflow UI's descriptions; never fails the transition

    def iter_events(
        self,
        name: str,
        since: float | None = None,
        version: str | None = None,
        action: str | None = None,
        first: int | None = None,
    ) -> Iterator[Event]:
        """The model's operations newest first, each at its latest phase, read a page at a time.

        ``since`` (epoch seconds), ``version`` (to_version) and ``action`` filter on the server;
        ``first``: the size of the first page read (phases, about two per operation)."""
        return history.operations(history.records(self, name, since, version, action, first))

    def events(
        self,
        name: str,
        limit: int | None = None,
        since: float | None = None,
        version: str | None = None,
        action: str | None = None,
    ) -> list[Event]:
        """Every operation of the model (the newest ``limit``), newest first; each op shows its latest phase."""
        first = None if limit is None else 2 * limit + 2
        return list(itertools.islice(self.iter_events(name, since, version, action, first), limit))

    def event_records(self, name: str) -> list[tuple[str, Event]]:
        """Every recorded phase of every event, oldest first, with its key (``<time ns>.<op id>.<result>``)."""
        return list(reversed(list(history.records(self, name))))

    # --- the lock (mlgate.registry.lock) --------------------------------------------------
    def lock_info(self, name: str) -> LockInfo | None:
        """The current holder of the model's lock, or None."""
        return lock_holder(self, name)

    @contextlib.contextmanager
    def lock(self, name: str, purpose: str) -> Iterator[LockInfo]:
        """Hold the model's mutex (see mlgate.registry.lock); waits up to ``lock_wait_seconds``.

        The MLflow UI descriptions of what happened under it are rewritten once, before it is released."""
        with hold_lock(self, name, purpose) as info, describe.once_per_operation():
            yield info


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (MLflow's are long)."""
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
