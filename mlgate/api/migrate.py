"""`mlgate migrate`: move a model's history from tags of its registered model to its history experiment.

Each old event tag ``mlgate.event.<key>`` is copied as one run under the same key, every copy is read
back and compared, and only then are the old tags deleted. A rerun skips the keys already copied, so an
interrupted migration resumes where it stopped and no event is lost or written twice. Until a model is
migrated its history is read from both homes (mlgate.registry.history).

The JSON tags of its versions (card, approvals, smoke reference) move the same way, copy then verify then
delete, to homes off the version's page (mlgate.registry.version_migration); read from both homes until then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from mlgate.api.session import registry_or_connect
from mlgate.exceptions import RegistryError, UsageError
from mlgate.registry import Registry, history, keys, version_migration


@dataclass
class Migration:
    """What ``migrate`` did to one model."""

    model: str
    found: int = 0  # events found as tags of the registered model
    copied: int = 0  # copied into the history experiment by this run
    already: int = 0  # found there already (an interrupted run had copied them)
    removed: int = 0  # old tags deleted after their copy was verified
    unreadable: list[str] = field(default_factory=list)  # tags that are not events: left where they are
    version_tags: version_migration.VersionTags = field(default_factory=version_migration.VersionTags)

    @property
    def nothing_to_do(self) -> bool:
        return self.found == 0 and self.version_tags.found == 0

    def describe(self) -> str:
        if self.nothing_to_do:
            return f"{self.model}: already migrated (no events kept as model tags, no JSON version tags), nothing to do"
        resumed = f", {self.already} copied by an earlier run" if self.already else ""
        left = f"; left {len(self.unreadable)} unreadable tag(s)" if self.unreadable else ""
        v = self.version_tags
        moved = (
            f"; moved {v.found} JSON version tag(s) (card, approvals, smoke reference) off the versions' pages "
            f"({v.copied} copied now, {v.removed} removed"
            + (f", {len(v.unreadable)} unreadable left: {', '.join(v.unreadable)}" if v.unreadable else "")
            + ")"
            if v.found
            else ""
        )
        return (
            f"{self.model}: moved {self.found} event(s) into experiment {history.experiment_name(self.model)} "
            f"({self.copied} copied now{resumed}; {self.removed} old tag(s) removed){left}{moved}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "nothing_to_do": self.nothing_to_do}


def migrate(
    name: str | None = None,
    all_models: bool = False,
    registry: Registry | None = None,
    workers: int = 8,
    on_copied: Callable[[int], None] | None = None,
) -> list[Migration]:
    """Move the history of ``name`` (or of every model with ``all_models``) to its history experiment.

    Idempotent and safe to interrupt: rerun it. ``on_copied(n)`` is called after each copy (progress)."""
    if bool(name) == bool(all_models):
        raise UsageError(
            "give a model NAME or --all, not both or neither", "mlgate migrate fraud | mlgate migrate --all"
        )
    reg = registry_or_connect(registry)
    names = reg.model_names() if all_models else [str(name)]
    if name:
        reg.model(name)  # ModelNotFound, naming the models that exist
    return [migrate_model(reg, n, workers, on_copied) for n in names]


def migrate_model(
    reg: Registry, name: str, workers: int = 8, on_copied: Callable[[int], None] | None = None
) -> Migration:
    """Copy, verify, then delete the old event tags of one model and the JSON tags of its versions, holding its lock."""
    done = Migration(name)
    tags = reg.model_tags(name)
    old = {k[len(keys.EVENT_PREFIX) :]: k for k in tags if k.startswith(keys.EVENT_PREFIX)}
    readable = dict(history.legacy(tags))
    done.unreadable = sorted(old[k] for k in old if k not in readable)
    done.found = len(readable)
    if any(version_migration.old_tags(mv) for mv in reg.versions(name)):
        with reg.lock(name, "migrate version tags"):
            done.version_tags = version_migration.migrate_versions(reg, name)
    if not readable:
        return done
    with reg.lock(name, "migrate history"):
        present = {key for key, _ in history.stored(reg, name)}
        todo = sorted(k for k in readable if k not in present)
        done.already = len(readable) - len(todo)
        counting = threading.Lock()

        def copy(key: str) -> None:
            history.write(reg, readable[key], key=key)
            with counting:
                done.copied += 1
                copied = done.copied
            if on_copied is not None:
                on_copied(copied)

        _each(copy, todo, workers)
        copies = dict(history.stored(reg, name))
        wrong = [k for k in readable if k not in copies or copies[k].to_json() != readable[k].to_json()]
        if wrong:
            raise RegistryError(
                f"{len(wrong)} event(s) of {name!r} did not read back from the history experiment; old tags kept",
                "run `mlgate migrate` again: it copies what is missing",
            )

        def remove(key: str) -> None:
            reg.call(f"untagging model {name!r}", reg.client.delete_registered_model_tag, name, old[key])
            with counting:
                done.removed += 1

        _each(remove, sorted(readable), workers)
    return done


def _each(fn: Callable[[str], None], items: list[str], workers: int) -> None:
    """Run ``fn`` on every item, ``workers`` at a time; the first failure is raised once the others stop."""
    if workers <= 1:
        for item in items:
            fn(item)
        return
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for future in [pool.submit(fn, item) for item in items]:
            future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # an interruption stops the copies not yet begun
