"""Small text files bound to one registered version (card, smoke reference), kept off its tags.

They live in the version's own artifact folder (keys.version_artifact) of its record run: the run
that logged it, or the record run mlgate made for it (tag ``mlgate.record_run_id``). Reading never
creates anything; a file that is not there reads as None.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.registry import keys
from mlgate.registry.uris import mlflow_uris

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlgate.registry.client import Registry


REGISTERED_AT = "registered_at"  # in a JSON file: the creation time (ms) of the registration it belongs to


def same_registration(text: str, mv: ModelVersion) -> bool:
    """False when JSON ``text`` names (REGISTERED_AT) another registration than ``mv`` (same name and number)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return True  # the reader says what is wrong with it
    at = data.get(REGISTERED_AT) if isinstance(data, dict) else None
    return at is None or at == int(mv.creation_timestamp or 0)


def record_run_of(mv: ModelVersion) -> str | None:
    """The run holding the version's files, without creating one (None: nothing was ever written)."""
    return str(mv.run_id) if mv.run_id else (mv.tags or {}).get(keys.RECORD_RUN) or None


def read_text(registry: Registry, mv: ModelVersion, path: str) -> str | None:
    """The text of the version's file ``path`` (e.g. keys.CARD_ARTIFACT), or None when it is not there."""
    run_id = record_run_of(mv)
    if run_id is None:
        return None
    artifact = keys.version_artifact(mv.name, str(mv.version), path)
    with tempfile.TemporaryDirectory(prefix="mlgate-read-") as tmp:
        try:
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            root = registry.client.get_run(run_id).info.artifact_uri  # one read; not runs:/ (it also seeks models)
            with mlflow_uris(registry.settings):  # mlflow-artifacts:/ roots resolve through the tracking URI
                local = get_artifact_repository(root).download_artifacts(artifact, tmp)
            return Path(local).read_text()
        except Exception:  # noqa: BLE001 - absent (each artifact store says so its own way), or unreadable
            return None


def write_text(registry: Registry, name: str, version: str, path: str, text: str) -> str:
    """Write ``text`` as the version's file ``path`` (replacing it); returns its artifact path."""
    with tempfile.TemporaryDirectory(prefix="mlgate-write-") as tmp:
        local = Path(tmp) / Path(path).name
        local.write_text(text)
        return registry.log_version_artifact(name, version, local, keys.version_artifact_dir(name, version))
