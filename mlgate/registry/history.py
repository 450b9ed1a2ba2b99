"""Where a model's history lives: one MLflow run per event in the experiment ``mlgate-history/<model>``.

Each event is written by one ``create_run`` carrying it in tags (no read-modify-write, so concurrent
writers never lose one), is read newest first in pages (``search_runs`` ordered by start time) and can
be filtered on the server by version and action. The registered model, which every gateway replica
polls and status / promote / rollback read, therefore stays small whatever the history's length.

Events written by mlgate before this home existed are tags ``mlgate.event.<time ns>.<op id>.<result>``
on the registered model; they are read too (merged, newest first, under the same key) until
``mlgate migrate`` moves them here (mlgate.api.migrate).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from mlgate.exceptions import PermissionDenied, RegistryError, RegistryUnavailable
from mlgate.registry import keys
from mlgate.registry.events import Event

if TYPE_CHECKING:
    from mlgate.registry.client import Registry

EXPERIMENT_PREFIX = "mlgate-history/"
APPROVALS_PREFIX = "mlgate-approvals/"  # approval decisions: their own experiment, so reading them stays small
KEY_TAG = "mlgate.event.key"  # <time ns, 20 digits>.<op id>.<result>: the event's stable key, sorts by time
ACTION_TAG = "mlgate.event.action"
VERSION_TAG = "mlgate.event.to_version"
OP_TAG = "mlgate.event.op_id"
JSON_TAG = "mlgate.event.json"  # the event; longer ones continue in mlgate.event.json.1, .2, ...
_CHUNK = 7000  # MLflow truncates a run tag value past 8,000 characters
_PAGES = (20, 200, 2000)  # page sizes read in turn: a short look is one small read, a long one stays light
Record = tuple[str, Event]  # (key, event)


def experiment_name(name: str) -> str:
    return f"{EXPERIMENT_PREFIX}{name}"


def new_key(event: Event) -> str:
    return f"{time.time_ns():020d}.{event.op_id}.{event.result}"


def key_seconds(key: str) -> float:
    return int(key.split(".")[0]) / 1e9


def experiment_id(registry: Registry, name: str, create: bool = False, prefix: str = EXPERIMENT_PREFIX) -> str | None:
    """The id of the model's history experiment (created when ``create``), cached per Registry object.

    ``prefix``: another of the model's companion experiments (``APPROVALS_PREFIX``: its approval decisions).

    A deleted one counts as absent for reading; writing restores it (its name stays taken, and the
    history it held is the audit trail). :func:`write` drops a cached id that no longer takes runs."""
    title = f"{prefix}{name}"
    cache = registry.history_experiments
    if title in cache:
        return cache[title]
    client = registry.client
    found = registry.call("reading the history experiment", client.get_experiment_by_name, title)
    if found is not None and found.lifecycle_stage == "deleted":
        if not create:
            return None
        registry.call("restoring the history experiment", client.restore_experiment, found.experiment_id)
    if found is None and create:
        from mlflow.exceptions import MlflowException

        kwargs = {}
        if registry.settings.artifact_root:
            kwargs["artifact_location"] = f"{registry.settings.artifact_root}/{title}"
        try:
            client.create_experiment(title, tags={keys.HISTORY_OF: name}, **kwargs)
        except MlflowException as exc:  # created by another writer at the same moment
            if getattr(exc, "error_code", "") not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise registry._translate("creating the history experiment", exc) from None
        found = registry.call("reading the history experiment", client.get_experiment_by_name, title)
    if found is None:
        return None
    cache[title] = str(found.experiment_id)
    return cache[title]


def write(registry: Registry, event: Event, key: str | None = None) -> str:
    """Store ``event`` as one run of its model's history experiment; returns its key."""
    key = key or new_key(event)
    text = event.to_json()
    try:
        cached = experiment_name(event.model) in registry.history_experiments
        exp = experiment_id(registry, event.model, create=True)
        try:
            return _write_run(registry, event, key, exp, text)
        except RegistryError as exc:
            if not cached or isinstance(exc, (PermissionDenied, RegistryUnavailable)):
                raise
            # the cached experiment was deleted (or removed for good) since: look it up again, once
            registry.history_experiments.pop(experiment_name(event.model), None)
            exp = experiment_id(registry, event.model, create=True)
            return _write_run(registry, event, key, exp, text)
    except PermissionDenied:
        # Under basic-auth, a user with EDIT on the model (an approver, say) may have no write permission on the
        # history experiment: the event goes where EDIT on the model suffices, the older tag home, read beside
        # the runs (and moved by `mlgate migrate`). Nothing is lost either way.
        tag = keys.EVENT_PREFIX + key
        registry.call("recording an event", registry.client.set_registered_model_tag, event.model, tag, text)
        return key


def _write_run(registry: Registry, event: Event, key: str, exp: str | None, text: str) -> str:
    tags = {
        KEY_TAG: key,
        ACTION_TAG: event.action,
        VERSION_TAG: str(event.to_version or ""),
        OP_TAG: event.op_id,
        keys.HISTORY_OF: event.model,
    }
    tags.update(chunked(JSON_TAG, text))
    ms = int(key.split(".")[0]) // 1_000_000
    run = registry.call(
        "recording an event", registry.client.create_run, exp, start_time=ms, tags=tags, run_name=event.action
    )
    # Finished, not "running" in the UI: one UpdateRun (set_terminated would read the run back and print links).
    from mlflow.entities import RunStatus

    store = registry.client._tracking_client.store
    registry.call("closing an event", store.update_run_info, run.info.run_id, RunStatus.FINISHED, ms, None)
    return key


def chunked(tag: str, text: str) -> dict[str, str]:
    """``text`` as run tags ``tag``, ``tag.1``, ... (MLflow truncates a run tag value past 8,000 characters)."""
    return {
        tag if i == 0 else f"{tag}.{i // _CHUNK}": text[i : i + _CHUNK] for i in range(0, max(len(text), 1), _CHUNK)
    }


def unchunked(tags: dict[str, str], tag: str) -> str | None:
    """The text :func:`chunked` spread over ``tags`` (None when ``tag`` is absent)."""
    if tag not in tags:
        return None
    parts, i = [tags[tag]], 1
    while f"{tag}.{i}" in tags:
        parts.append(tags[f"{tag}.{i}"])
        i += 1
    return "".join(parts)


def _from_run(run: object) -> Record | None:
    tags = run.data.tags  # type: ignore[attr-defined]
    key, text = tags.get(KEY_TAG), unchunked(tags, JSON_TAG)
    if not key or text is None:
        return None
    try:
        return key, Event.from_json(text)
    except (ValueError, TypeError):
        return None


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def stored(
    registry: Registry,
    name: str,
    since: float | None = None,
    version: str | None = None,
    action: str | None = None,
    first: int | None = None,
    until: float | None = None,
) -> Iterator[Record]:
    """The events in the history experiment, newest first, read a page at a time as the caller goes on.

    ``first``: the size of the first page (then growing), for a caller that knows how many it wants;
    ``until``: only those recorded then or earlier (epoch seconds)."""
    exp = experiment_id(registry, name)
    if exp is None:
        return
    terms = []
    if since is not None:
        terms.append(f"attributes.start_time >= {int(since * 1000)}")
    if until is not None:
        terms.append(f"attributes.start_time <= {int(until * 1000)}")
    if version is not None:
        terms.append(f"tags.`{VERSION_TAG}` = '{_quote(str(version))}'")
    if action is not None:
        terms.append(f"tags.`{ACTION_TAG}` {'LIKE' if '%' in action else '='} '{_quote(action)}'")  # '%': a pattern
    token: str | None = None
    held: list[Record] = []  # runs of the page's last millisecond may continue on the next page
    pages = 0
    while True:
        size = first if first and not pages else _PAGES[min(pages, len(_PAGES) - 1)]
        page = registry.call(
            "reading the history",
            registry.client.search_runs,
            [exp],
            filter_string=" AND ".join(terms),
            max_results=size,
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        pages += 1
        held.extend(r for r in map(_from_run, page) if r is not None)
        held.sort(key=lambda r: r[0], reverse=True)
        token = page.token
        if not token or not page:
            yield from held
            return
        last_ms = min(int(run.info.start_time or 0) for run in page)
        cut = next((i for i, r in enumerate(held) if int(r[0].split(".")[0]) // 1_000_000 <= last_ms), len(held))
        yield from held[:cut]
        held = held[cut:]


def legacy(
    tags: dict[str, str], since: float | None = None, version: str | None = None, until: float | None = None
) -> list[Record]:
    """Events kept the old way, as tags of the registered model, newest first."""
    found = []
    for key, value in tags.items():
        if not key.startswith(keys.EVENT_PREFIX):
            continue
        suffix = key[len(keys.EVENT_PREFIX) :]
        try:
            event = Event.from_json(value)
            at = key_seconds(suffix)
        except (ValueError, TypeError):
            continue
        if until is not None and at > until:
            continue
        if (since is None or at >= since) and (version is None or str(event.to_version) == str(version)):
            found.append((suffix, event))
    return sorted(found, key=lambda r: r[0], reverse=True)


def records(
    registry: Registry,
    name: str,
    since: float | None = None,
    version: str | None = None,
    action: str | None = None,
    first: int | None = None,
    until: float | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[Record]:
    """Every event of the model from both homes, newest first, each key once (ModelNotFound without the model).

    ``tags``: the registered model's tags when the caller has just read them (else they are read here)."""
    old = legacy(registry.model_tags(name) if tags is None else tags, since, version, until)
    if action is not None:
        old = [r for r in old if r[1].action == action]
    seen: set[str] = set()
    for key, event in heapq.merge(
        stored(registry, name, since, version, action, first, until), old, key=lambda r: r[0], reverse=True
    ):
        if key not in seen:
            seen.add(key)
            yield key, event


def operations(found: Iterable[Record]) -> Iterator[Event]:
    """Each operation once, at its newest phase, newest first (``found`` newest first)."""
    ops: set[str] = set()
    for _, event in found:
        if event.op_id not in ops:
            ops.add(event.op_id)
            yield event
