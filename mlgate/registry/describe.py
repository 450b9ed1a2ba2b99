"""What a person reads in the MLflow UI: the model summary as its description, a release section per version.

Both are derived from the registry (aliases, tags, the newest events), never edited in place, so
writing them again always converges; :func:`after_event` rewrites them after every finished
transition (``Registry.record_event``), once per operation: inside :func:`once_per_operation` (the
model's lock, ``Registry.lock``) the events are only noted, and each model's descriptions are rewritten
once on leaving it, the lock still held. A text that is already current is not written again. A failure
to write them is logged and never fails the transition it describes. The summary is bounded (about
:data:`MAX_SUMMARY` characters): every gateway replica's poll reads the registered model, description included.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlgate.registry import approvals, history, keys

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlgate.registry.client import Registry
    from mlgate.registry.events import Event

log = logging.getLogger(__name__)

SUMMARY_HEADING = "### mlgate"
RELEASE_HEADING = "### Release"
RECENT = 5  # transitions listed in the summary
MAX_SUMMARY = 2500  # characters: the registered model is what every gateway replica polls
_QUIET = {"rollout-analysis"}  # frequent, and summed up by the rollout's own steps: not listed, nothing rewritten
# transitions that change no version's tags or aliases: only the summary is rewritten
_MODEL_ONLY = {"rollout-step", "rollout-pause", "rollout-resume", "serving-load-failed"}
_STAGE_ORDER = {"staging": 0, "canary": 1, "production": 2}
_GATE_ICONS = {"passed": "✅", "failed": "❌"}
# Inside once_per_operation: (tracking URI, model) -> (the registry that recorded, versions to rewrite)
_PENDING: contextvars.ContextVar[dict[tuple[str, str], tuple[Registry, dict[str, None]]] | None] = (
    contextvars.ContextVar("mlgate_describe_pending", default=None)
)


def _when(at: str | None) -> str:
    return f"{at[:19].replace('T', ' ')} UTC" if at else "?"


def _v(version: str | None) -> str:
    return f"v{version}" if version else "none"


def version_status(tags: dict[str, str], version: str, aliases: dict[str, str], registry: Registry) -> str:
    """The live stage from the aliases (production > canary > staging), else the status tag (as `mlgate status`)."""
    names = registry.settings.aliases
    held = {alias for alias, v in aliases.items() if v == version}
    for stage in ("production", "canary", "staging"):
        if getattr(names, stage) in held:
            return stage
    status = tags.get(keys.STATUS, "candidate")
    return "archived" if status in ("production", "canary", "staging") else status


def _transition(event: Event) -> str:
    moved = f"{_v(event.from_version)} → {_v(event.to_version)}" if event.from_version else _v(event.to_version)
    result = "" if event.result == "completed" else f" **{event.result}**"
    why = f": {approvals.one_line(event.reason, 120)}" if event.reason else ""
    return f"- {_when(event.at)} · `{event.action}` {moved}{result} by {approvals.one_line(event.actor, 60)}{why}"


def render_summary(registry: Registry, name: str, aliases: dict[str, str], tags: dict[str, str]) -> str:
    """The registered model's description: who serves what now, what happened last, and what to run when it breaks."""
    names = registry.settings.aliases
    production, canary = aliases.get(names.production), aliases.get(names.canary)
    lines = [SUMMARY_HEADING, "", f"- **Production:** {_v(production)}"]
    if canary:
        lines.append(f"- **Canary:** {_v(canary)} at {tags.get(keys.CANARY_WEIGHT, '?')} % of traffic")
    else:
        lines.append("- **Canary:** none")
    if aliases.get(names.shadow):
        lines.append(f"- **Shadow:** {_v(aliases[names.shadow])} ({tags.get(keys.SHADOW_SHARE, '?')} % mirrored)")
    if aliases.get(names.staging):
        lines.append(f"- **Staging:** {_v(aliases[names.staging])}")
    lines.append(f"- **Last known good:** {_v(aliases.get(names.last_known_good))}")
    try:
        found = history.operations(history.records(registry, name, first=2 * (RECENT + 3) + 2, tags=tags))
        recent = [e for e in itertools.islice(found, RECENT + 3) if e.action not in _QUIET][:RECENT]
    except Exception as exc:  # noqa: BLE001 - the summary is shown without them
        log.warning("the MLflow UI summary of %s lists no transitions: %s", name, exc)
        recent = []
    if recent:
        lines += ["", "**Latest transitions** (newest first; all of them: `mlgate history " + name + "`)", ""]
        lines += [_transition(e) for e in recent]
    lines += [
        "",
        f"**If production breaks:** `mlgate rollback {name}` (what it will do: `mlgate runbook {name}`); "
        f"the whole picture: `mlgate status {name}`.",
        "",
        "_Written by mlgate after every transition; edits here are overwritten._",
    ]
    text = "\n".join(lines)
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


def render_release(mv: ModelVersion, aliases: dict[str, str], registry: Registry) -> str:
    """The release section of a version's description: status, gate verdict per stage with its report, smoke test."""
    tags = dict(mv.tags or {})
    version = str(mv.version)
    status = version_status(tags, version, aliases, registry)
    held = sorted(alias for alias, v in aliases.items() if v == version)
    lines = [RELEASE_HEADING, "", f"- **Status:** {status}" + (f" (aliases: {', '.join(held)})" if held else "")]
    found = {key[len("mlgate.gate.") :] for key in tags if key.startswith("mlgate.gate.") and key.count(".") == 2}
    stages = sorted(found, key=lambda s: (_STAGE_ORDER.get(s, len(_STAGE_ORDER)), s))
    for stage in stages:
        verdict = tags[keys.gate_tag(stage)]
        report = tags.get(keys.gate_report_tag(stage))
        where = f"; report `{report}` (HTML: `{report[:-5]}.html`) in the run's artifacts" if report else ""
        at = tags.get(keys.gate_time_tag(stage))
        lines.append(f"- Gate **{stage}**: {_GATE_ICONS.get(verdict, '')} {verdict} at {_when(at)}{where}")
    if not stages:
        lines.append(f"- Gate: not run yet (`mlgate check {mv.name} {version} --stage staging`)")
    if tags.get(keys.SMOKE):
        lines.append(f"- Smoke test in production: {tags[keys.SMOKE]} at {_when(tags.get(keys.SMOKE_AT))}")
    if tags.get(keys.PRODUCTION_AT):
        lines.append(f"- Entered production: {_when(tags[keys.PRODUCTION_AT])}")
    if tags.get(keys.ROLLED_BACK_REASON):
        lines.append(f"- Rolled back: {approvals.one_line(tags[keys.ROLLED_BACK_REASON], 300)}")
    return "\n".join(lines)


def card_part(description: str | None) -> str:
    """The version's description without the sections mlgate writes (the card, or what its author wrote)."""
    text = description or ""
    for heading in (RELEASE_HEADING, approvals.DESCRIPTION_HEADING):
        text = text.split(f"\n\n{heading}\n")[0]
        if text.startswith(f"{heading}\n"):
            text = ""
    return text.rstrip()


def render_version(mv: ModelVersion, aliases: dict[str, str], registry: Registry) -> str:
    """The whole description of a version: its card, the release section, then the approvals when there are any."""
    base = "\n\n".join(p for p in (card_part(mv.description), render_release(mv, aliases, registry)) if p)
    return approvals.render_description(base, approvals.decisions_for(registry, mv))


def _aliases(model: Any) -> dict[str, str]:
    return {alias: str(v) for alias, v in (model.aliases or {}).items()}


def refresh_version(registry: Registry, name: str, version: str, aliases: dict[str, str] | None = None) -> str:
    """Rewrite a version's description (card kept, release and approvals sections rewritten); returns it."""
    if aliases is None:
        aliases = _aliases(registry.client.get_registered_model(name))
    mv = registry.client.get_model_version(name, str(version))
    wanted = render_version(mv, aliases, registry)
    if wanted != (mv.description or ""):
        registry.client.update_model_version(name, str(version), description=wanted)
    return wanted


def refresh(registry: Registry, name: str, versions: Any = ()) -> str:
    """Rewrite the model's summary (returned) and the descriptions of ``versions``, from one read of the model."""
    model = registry.client.get_registered_model(name)
    aliases = _aliases(model)
    wanted = render_summary(registry, name, aliases, dict(model.tags or {}))
    if wanted != (model.description or ""):
        registry.client.update_registered_model(name, description=wanted)
    for version in dict.fromkeys(str(v) for v in versions if v):
        refresh_version(registry, name, version, aliases)
    return wanted


def after_event(registry: Registry, event: Event) -> None:
    """After a finished transition: rewrite what the MLflow UI shows of it. Logs a failure, never raises.

    Within :func:`once_per_operation` the rewrite waits for the end of the operation."""
    if event.result == "started" or event.action in _QUIET:
        return
    versions = () if event.action in _MODEL_ONLY else (event.to_version, event.from_version)
    pending = _PENDING.get()
    if pending is None:
        _refresh_logged(registry, event.model, versions, event.action)
        return
    _, wanted = pending.setdefault((registry.settings.tracking_uri, event.model), (registry, {}))
    wanted.update(dict.fromkeys(str(v) for v in versions if v))


@contextlib.contextmanager
def once_per_operation() -> Iterator[None]:
    """Within: finished events only note what to rewrite; on leaving (even by an error), each model's
    descriptions are rewritten once. Nested, the outermost one writes."""
    if _PENDING.get() is not None:
        yield
        return
    pending: dict[tuple[str, str], tuple[Registry, dict[str, None]]] = {}
    token = _PENDING.set(pending)
    try:
        yield
    finally:
        _PENDING.reset(token)
        for (_, model), (registry, versions) in pending.items():
            _refresh_logged(registry, model, versions, "the operation")


def _refresh_logged(registry: Registry, model: str, versions: Any, what: str) -> None:
    try:
        refresh(registry, model, versions)
    except Exception as exc:  # noqa: BLE001 - the transition happened; its description is secondary
        log.warning("could not update the MLflow UI descriptions of %s after %s: %s", model, what, exc)
