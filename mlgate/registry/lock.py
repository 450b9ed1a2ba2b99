"""The per-model lock: a registered model whose unique name is the mutex, on every MLflow backend, with an expiry."""

from __future__ import annotations

import contextlib
import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlgate.exceptions import LockHeld
from mlgate.registry import keys

if TYPE_CHECKING:
    from mlgate.registry.client import Registry


@dataclass(frozen=True)
class LockInfo:
    """Who holds a model's lock, and until when."""

    holder: str
    purpose: str
    expires: float
    token: str


def lock_holder(registry: Registry, name: str) -> LockInfo | None:
    """The current holder of the model's lock, or None."""
    from mlflow.exceptions import MlflowException

    try:
        tags = registry.client.get_registered_model(keys.LOCK_MODEL_PREFIX + name).tags or {}
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise registry._translate("reading the lock", exc) from None
    holder, _, purpose = tags.get(keys.LOCK_HOLDER, "?|?").partition("|")
    return LockInfo(holder, purpose, float(tags.get(keys.LOCK_EXPIRES, "0")), tags.get(keys.LOCK_TOKEN, ""))


@contextlib.contextmanager
def hold_lock(registry: Registry, name: str, purpose: str) -> Iterator[LockInfo]:
    """Hold the model's mutex: a registered model whose unique name works on every backend.

    Waits up to ``lock_wait_seconds``; a lock past its expiry is taken over.
    """
    from mlflow.exceptions import MlflowException

    lock_name = keys.LOCK_MODEL_PREFIX + name
    token = uuid.uuid4().hex
    deadline = time.monotonic() + registry.settings.lock_wait_seconds
    while True:
        expires = registry.clock() + registry.settings.lock_ttl_seconds
        mine = LockInfo(registry.settings.actor, purpose, expires, token)
        try:
            registry.client.create_registered_model(
                lock_name,
                tags={
                    keys.IS_LOCK: "true",
                    keys.LOCK_HOLDER: f"{registry.settings.actor}@{os.uname().nodename}:{os.getpid()}|{purpose}",
                    keys.LOCK_EXPIRES: f"{expires:.3f}",
                    keys.LOCK_TOKEN: token,
                },
                description=f"mlgate lock for {name}: {purpose}. Safe to delete once expired.",
            )
            break
        except MlflowException as exc:
            # RESOURCE_DOES_NOT_EXIST: MLflow looked the name up again after the conflict and the
            # holder had released it in between. Both mean "contended": try again.
            contended = ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST")
            if getattr(exc, "error_code", "") not in contended:
                raise registry._translate("taking the lock", exc) from None
        except Exception as exc:
            if registry.is_unreachable(exc):
                raise registry._unreachable("taking the lock") from None
            raise
        held = lock_holder(registry, name)
        if held is not None and held.expires < registry.clock():
            _take_over_expired(registry, lock_name, held)
            continue
        if time.monotonic() > deadline:
            who = f"{held.holder} ({held.purpose})" if held else "another operation"
            until = datetime.fromtimestamp(held.expires, UTC).isoformat(timespec="seconds") if held else "?"
            raise LockHeld(
                f"model {name!r} is locked by {who} until {until}",
                "wait for it to finish and run the command again; a dead holder's lock expires by itself",
            )
        time.sleep(0.05 + random.random() * 0.2)
    try:
        yield mine
    finally:
        _release(registry, lock_name, token)


def _take_over_expired(registry: Registry, lock_name: str, seen: LockInfo) -> None:
    """Rename the expired lock aside (only one taker can), then delete it."""
    from mlflow.exceptions import MlflowException

    aside = f"{lock_name}.expired.{uuid.uuid4().hex[:8]}"
    try:
        registry.client.rename_registered_model(lock_name, aside)
    except MlflowException:
        return  # someone else took it over or released it; try again
    tags = registry.client.get_registered_model(aside).tags or {}
    if tags.get(keys.LOCK_TOKEN) != seen.token:
        with contextlib.suppress(MlflowException):  # a fresh lock: give it back
            registry.client.rename_registered_model(aside, lock_name)
        return
    with contextlib.suppress(MlflowException):
        registry.client.delete_registered_model(aside)


def _release(registry: Registry, lock_name: str, token: str) -> None:
    # Best effort: if the registry is gone, the lock expires by itregistry.
    with contextlib.suppress(Exception):
        tags = registry.client.get_registered_model(lock_name).tags or {}
        if tags.get(keys.LOCK_TOKEN) == token:
            registry.client.delete_registered_model(lock_name)
