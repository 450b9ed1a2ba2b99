"""Test helper: register a version with no source run, so its mlgate artifacts go to a run of its own.

Versions registered from the shared template model all point at the template's run, whose
artifact folder every test shares; a profile or report logged there would leak between tests.
"""

from __future__ import annotations

from mlgate.registry import Registry, mlflow_uris


def isolated_version(registry: Registry, name: str, model_uri: str, tags: dict[str, str] | None = None) -> str:
    """A new version of ``name`` whose artifacts (profile, reports) live in a record run of its own."""
    _source, _run_id, model_id = registry.resolve_model_uri(model_uri)
    source = registry.client.get_logged_model(model_id).artifact_location  # a folder: no run to inherit
    registry.ensure_model(name)
    with mlflow_uris(registry.settings):  # the store resolves models:/m-... through the global URI
        mv = registry.client.create_model_version(name=name, source=source, run_id=None, tags=tags or {})
    return str(mv.version)
