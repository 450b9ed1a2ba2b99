"""No JSON among a version's tags: card, approvals and smoke reference live off the version's page, old ones migrate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlgate import api
from mlgate.registry import Registry, keys, version_files
from mlgate.registry.approvals import Decision, decisions_for, stored_decisions
from mlgate.registry.card import stored_card
from mlgate.release.smoke.reference import read_reference, reference_text
from mlgate.testing import card_dict

NAME = "tags-model"
MAX_TAGS = 20  # mlgate.* tags on a released, approved, smoke-tested version


def mlgate_tags(registry: Registry, version: str) -> dict[str, str]:
    return {k: v for k, v in (registry.version(NAME, version).tags or {}).items() if k.startswith(keys.PREFIX)}


def as_person(registry: Registry, person: str) -> Registry:
    return Registry(registry.client, registry.settings.with_overrides(actor=person))


def test_a_release_leaves_only_short_scalar_tags_on_the_version(
    registry: Registry, model_uri: str, card_path: Path
) -> None:
    assert registry.settings.config_dir is not None
    policy = {"checks": {}, "stages": {"staging": ["card_complete"], "production": ["card_complete", "approval"]}}
    (registry.settings.config_dir / "policy.yaml").write_text(yaml.safe_dump(policy))
    version = api.register(NAME, model_uri, card_path, registry=registry).version
    api.check(NAME, version, "staging", registry=registry)
    api.approve(NAME, version, comment="read the report", registry=as_person(registry, "alice"))
    promoted = api.promote(NAME, version, "production", registry=registry)
    assert promoted.gate == "passed" and registry.aliases(NAME)["production"] == version

    tags = mlgate_tags(registry, version)
    for key, value in tags.items():  # every one a short scalar a person can filter on
        assert len(value) <= 200 and not value.lstrip().startswith(("{", "[")), (key, value)
    assert not any(k.startswith(keys.APPROVAL_PREFIX) for k in tags) and keys.CARD not in tags
    assert keys.SMOKE_REFERENCE not in tags and tags[keys.SMOKE] == "passed"
    assert len(tags) <= MAX_TAGS, sorted(tags)
    # ... and each record is still there, in its own home
    mv = registry.version(NAME, version)
    card, problems = stored_card(registry, mv)
    assert card is not None and card.owner == "ml-platform@example.com" and problems == []
    [decision] = decisions_for(registry, mv)
    assert (decision.by, decision.stage, decision.comment) == ("alice", "production", "read the report")
    text, where = reference_text(registry, NAME, version)
    assert text is not None and where == f"file {keys.SMOKE_REFERENCE_ARTIFACT}"
    assert api.status(NAME, registry=registry).extra["approvals"] == {version: "production: 1/1 approved (alice)"}
    assert "approved for production by alice" in (mv.description or "")


def _old_reference(version: str) -> str:
    payload = json.dumps({"dataframe_split": {"columns": ["a"], "data": [[1.0]]}})
    return json.dumps(
        {
            "format": 1,
            "model": f"models:/{NAME}/{version}",
            "version": version,
            "payload": payload,
            "payload_sha256": __import__("hashlib").sha256(payload.encode()).hexdigest(),
            "rows": 1,
            "predictions": [2],
            "computed_at": "2026-11-30T10:00:00+00:00",
        }
    )


def _snapshot(registry: Registry) -> tuple[object, ...]:
    versions = registry.versions(NAME)
    return (
        [dict(mv.tags or {}) for mv in versions],
        stored_decisions(registry, NAME),
        [version_files.read_text(registry, mv, keys.CARD_ARTIFACT) for mv in versions],
        [version_files.read_text(registry, mv, keys.SMOKE_REFERENCE_ARTIFACT) for mv in versions],
    )


def test_a_registry_of_the_old_format_stays_readable_and_migrates_once_even_when_interrupted(
    registry: Registry, model_uri: str, card_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = api.register(NAME, model_uri, card_path, registry=registry).version
    v2 = api.register(NAME, model_uri, card_path, registry=registry).version
    # what the previous release wrote: the card, each decision and the smoke reference as JSON version tags
    old_card = card_dict(limitations="Kept in the old tag.")
    registry.set_version_tag(NAME, v1, keys.CARD, json.dumps(old_card, sort_keys=True))
    decisions = [
        Decision("approve", "production", "alice", "2026-11-30T09:00:00+00:00", "ok", gate_report={"result": "passed"}),
        Decision("reject", "production", "bob", "2026-11-30T09:30:00+00:00", "wait for the fairness review"),
    ]
    for i, d in enumerate(decisions):
        key = f"{keys.APPROVAL_PREFIX}production.{1764493200000000000 + i:020d}.abc{i}"
        registry.set_version_tag(NAME, v1, key, d.to_json())
    registry.set_version_tag(NAME, v1, keys.SMOKE_REFERENCE, _old_reference(v1))
    registry.set_version_tag(NAME, v2, f"{keys.APPROVAL_PREFIX}staging.1.x", "{not json")

    def readable() -> None:
        mv = registry.version(NAME, v1)
        card, _ = stored_card(registry, mv)
        assert card is not None and card.limitations == "Kept in the old tag."
        assert [(d.by, d.decision, d.gate_report) for d in decisions_for(registry, mv)] == [
            ("alice", "approve", {"result": "passed"}),
            ("bob", "reject", None),
        ]
        expected, ignored = read_reference(registry, NAME, v1)
        assert ignored is None and expected is not None and expected.predictions == [2]

    readable()  # before migrating: from the old tags
    deletes = 0
    real_delete = registry.client.delete_model_version_tag

    def interrupted(*args: object) -> None:
        nonlocal deletes
        deletes += 1
        if deletes == 2:
            raise KeyboardInterrupt
        real_delete(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(registry.client, "delete_model_version_tag", interrupted)
    with pytest.raises(KeyboardInterrupt):
        api.migrate(NAME, registry=registry)
    monkeypatch.undo()
    readable()  # half moved: read from both homes, nothing doubled

    [done] = api.migrate(NAME, registry=registry)  # the rerun resumes
    assert done.version_tags.unreadable == [f"v{v2} {keys.APPROVAL_PREFIX}staging.1.x"], done.describe()
    assert "JSON version tag(s)" in done.describe()
    readable()  # after: from the new homes only
    old = [k for k in registry.version(NAME, v1).tags if k in (keys.CARD, keys.SMOKE_REFERENCE)]
    assert old == [] and not any(k.startswith(keys.APPROVAL_PREFIX) for k in registry.version(NAME, v1).tags)
    assert len(stored_decisions(registry, NAME)[v1]) == 2  # each decision copied once

    before = _snapshot(registry)
    [again] = api.migrate(NAME, registry=registry)  # migrate twice: no change
    assert (again.version_tags.found, again.version_tags.copied, again.version_tags.removed) == (0, 0, 0)
    assert _snapshot(registry) == before
