"""Move a version's JSON tags (card, approvals, smoke reference) to their homes off the version's page.

Each is written to its new home (the card and smoke reference: the version's files; each approval:
its own run, mlgate.registry.approvals), read back and compared, and only then is the old tag
deleted. A rerun finds the copies already made, so an interrupted migration resumes and nothing is
lost or written twice. Tags that do not parse are left where they are and reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from mlgate.exceptions import RegistryError
from mlgate.registry import approvals, keys, version_files

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlgate.registry.client import Registry


@dataclass
class VersionTags:
    """What moving the JSON tags of a model's versions did."""

    found: int = 0  # readable JSON tags found on versions (card, approvals, smoke reference)
    copied: int = 0  # written to their new home by this run
    removed: int = 0  # old tags deleted after their copy read back
    unreadable: list[str] = field(default_factory=list)  # "v<version> <tag>": left where they are


def old_tags(mv: ModelVersion) -> list[str]:
    """The version's tags that hold JSON kept the old way."""
    tags = mv.tags or {}
    return sorted(k for k in tags if k in (keys.CARD, keys.SMOKE_REFERENCE) or k.startswith(keys.APPROVAL_PREFIX))


def migrate_versions(registry: Registry, name: str, versions: list[ModelVersion] | None = None) -> VersionTags:
    """Move the JSON tags of every version of ``name`` (callers hold the model's lock)."""
    done = VersionTags()
    versions = registry.versions(name) if versions is None else versions
    todo = [mv for mv in versions if old_tags(mv)]
    if not todo:
        return done
    stored = approvals.stored_decisions(registry, name)
    for mv in todo:
        _migrate_version(registry, mv, stored.get(str(mv.version), []), done)
    return done


def _migrate_version(registry: Registry, mv: ModelVersion, runs: list[approvals.Decision], done: VersionTags) -> None:
    name, version, tags = mv.name, str(mv.version), dict(mv.tags or {})
    verified: list[str] = []
    card = _json(tags.get(keys.CARD))
    if keys.CARD in tags:
        if card is None:
            done.unreadable.append(f"v{version} {keys.CARD}")
        else:
            done.found += 1
            if _yaml(version_files.read_text(registry, mv, keys.CARD_ARTIFACT)) != card:
                text = yaml.safe_dump(card, sort_keys=False)
                version_files.write_text(registry, name, version, keys.CARD_ARTIFACT, text)
                done.copied += 1
                mv = registry.version(name, version)  # a record run may have been made for it
            _check(_yaml(version_files.read_text(registry, mv, keys.CARD_ARTIFACT)) == card, mv, keys.CARD)
            verified.append(keys.CARD)
    if keys.SMOKE_REFERENCE in tags:
        if _json(tags[keys.SMOKE_REFERENCE]) is None:
            done.unreadable.append(f"v{version} {keys.SMOKE_REFERENCE}")
        else:
            done.found += 1
            # a file already there was written by a later smoke test (or an interrupted run of this): it stands
            there = version_files.read_text(registry, mv, keys.SMOKE_REFERENCE_ARTIFACT)
            if there is None or not version_files.same_registration(there, mv):
                text = tags[keys.SMOKE_REFERENCE]
                version_files.write_text(registry, name, version, keys.SMOKE_REFERENCE_ARTIFACT, text)
                done.copied += 1
                mv = registry.version(name, version)
            copy = version_files.read_text(registry, mv, keys.SMOKE_REFERENCE_ARTIFACT)
            _check(copy is not None and version_files.same_registration(copy, mv), mv, keys.SMOKE_REFERENCE)
            verified.append(keys.SMOKE_REFERENCE)
    old = {d.key: d for d in approvals.decisions_of(tags)}
    done.found += len(old)
    done.unreadable += [f"v{version} {k}" for k in sorted(tags) if k.startswith(keys.APPROVAL_PREFIX) and k not in old]
    if old:
        present = {d.key for d in runs}
        for key in sorted(k for k in old if k not in present):
            approvals.write_decision(registry, name, version, old[key], key=key)
            done.copied += 1
        copies = {d.key: d for d in approvals.stored_decisions(registry, name, version).get(version, [])}
        for key, decision in old.items():
            _check(copies.get(key) == decision, mv, key)
            verified.append(key)
    for key in verified:
        registry.call(f"untagging {name} v{version}", registry.client.delete_model_version_tag, name, version, key)
        done.removed += 1


def _check(ok: bool, mv: ModelVersion, key: str) -> None:
    if not ok:
        raise RegistryError(
            f"the copy of tag {key} of {mv.name} v{mv.version} did not read back from its new home; old tag kept",
            "run `mlgate migrate` again: it copies what is missing",
        )


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _yaml(text: str | None) -> Any:
    try:
        return yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return None
