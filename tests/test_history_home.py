"""History off the polled registered model: a registry of the old format keeps working, migrates once, pages fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from history_support import old_event_tags, old_release
from rollout_support import production_and_candidate

from mlgate import api
from mlgate.cli import main
from mlgate.config import Settings
from mlgate.exceptions import ModelNotFound
from mlgate.registry import Event, Registry, history

NAME = "old-model"


def story_of(registry: Registry) -> list[tuple[str, str, str | None, str | None]]:
    return [(e.op_id, e.action, e.result, e.to_version) for e in registry.events(NAME)]


def test_an_old_registry_keeps_working_then_migrates_with_one_interruptible_command(
    registry: Registry, cli_env: Settings, model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with old_release(monkeypatch):  # v1 in production, a canary of v2, v2 completed, rolled back: old tags
        v1, v2 = production_and_candidate(registry, NAME, model_uri, tmp_path)
        api.rollout_start(NAME, v2, steps="50", registry=registry)
        api.rollout_advance(NAME, registry=registry)
        before_rollback = time.time()
        api.rollback(NAME, reason="conversion dropped", registry=registry)
    old = old_event_tags(registry, NAME)
    assert len(old) >= 8
    # Before migrating, the old history is read as it is, and new events go to the new home beside it.
    api.promote(NAME, v1, "staging", registry=registry, force=True, reason="hotfix")
    assert len(old_event_tags(registry, NAME)) == len(old)
    before = story_of(registry)
    assert before[0][1] == "promote-staging" and before[1][1] == "rollback"
    past = api.status(NAME, registry=registry, at=before_rollback)
    assert past.aliases["production"] == v2

    # Interrupted after 3 copies: nothing lost, nothing doubled, the old tags still there.
    def stop_after_three(copied: int) -> None:
        if copied == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.migrate(NAME, registry=registry, workers=1, on_copied=stop_after_three)
    assert story_of(registry) == before and len(old_event_tags(registry, NAME)) == len(old)

    [done] = api.migrate(NAME, registry=registry)  # the rerun resumes
    assert (done.found, done.already, done.copied, done.removed) == (len(old), 3, len(old) - 3, len(old))
    assert old_event_tags(registry, NAME) == []
    assert story_of(registry) == before  # full history, same order, each phase once
    assert len({key for key, _ in history.stored(registry, NAME)}) == len(old) + 2  # + promote-staging's 2 phases
    assert api.status(NAME, registry=registry, at=before_rollback).aliases == past.aliases
    assert api.status(NAME, registry=registry, at="now").aliases == registry.aliases(NAME)

    runner = CliRunner()
    again = runner.invoke(main, ["migrate", NAME])
    assert again.exit_code == 0 and "already migrated" in again.output, again.output
    missing = runner.invoke(main, ["migrate", "no-such-model"])
    assert missing.exit_code == 1 and "no registered model named 'no-such-model'" in missing.output
    assert "Traceback" not in missing.output and NAME in missing.output  # names the models that exist
    both = runner.invoke(main, ["migrate"])
    assert both.exit_code != 0 and "--all" in both.output
    everything = runner.invoke(main, ["migrate", "--all"])
    assert everything.exit_code == 0 and "0 event(s) moved" in everything.output, everything.output


def test_history_pages_newest_first_across_pages_and_filters_on_the_server(
    registry: Registry, cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.ensure_model("m")
    monkeypatch.setattr(history, "_PAGES", (3, 4))  # many page boundaries on a short history
    base = time.time_ns() - 60 * 10**9
    for i in range(12):  # pairs of phases in one millisecond: a page may end between them
        event = Event(action=f"op{i}", model="m", to_version=str(i % 3), result="started")
        history.write(registry, event, key=f"{base + i * 10**6:020d}.{event.op_id}.started")
        event.result = "completed"
        history.write(registry, event, key=f"{base + i * 10**6 + 1:020d}.{event.op_id}.completed")
    newest = registry.events("m")
    assert [e.action for e in newest] == [f"op{i}" for i in reversed(range(12))]
    assert {e.result for e in newest} == {"completed"}  # each operation once, at its latest phase
    assert [e.action for e in registry.events("m", limit=2)] == ["op11", "op10"]
    assert [e.action for e in registry.events("m", version="1")] == ["op10", "op7", "op4", "op1"]
    since = (base + 9 * 10**6) / 1e9
    assert [e.action for e in api.history("m", since=since)] == ["op11", "op10", "op9"]
    assert [e.action for e in api.history("m", limit=3, skip=3)] == ["op8", "op7", "op6"]
    assert not [k for k in registry.model_tags("m") if k.startswith("mlgate.event.")]  # the polled model stays small

    out = CliRunner().invoke(main, ["history", "m", "--limit", "2", "--page", "2", "--json"])
    assert out.exit_code == 0, out.output
    assert '"op9"' in out.output and '"op8"' in out.output and '"op10"' not in out.output
    with pytest.raises(ModelNotFound):
        registry.events("nothing-here")
