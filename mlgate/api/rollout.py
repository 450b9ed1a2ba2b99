"""Canary rollouts and the post-promotion watch, driven from the gateway's prediction record."""

from __future__ import annotations

from typing import Any

from mlgate.api.session import registry_or_connect
from mlgate.config import Settings
from mlgate.config.durations import parse_duration
from mlgate.exceptions import UsageError
from mlgate.registry import Registry
from mlgate.release.rollout import driver
from mlgate.release.rollout import steps as rollout_steps
from mlgate.release.rollout.status import RolloutStatus
from mlgate.release.rollout.status import status as rollout_state
from mlgate.release.rollout.watch import WatchResult
from mlgate.release.rollout.watch import watch as run_watch
from mlgate.serving.record import PredictionStore, default_store_url
from mlgate.traffic import TrafficRouter


def record_source(settings: Settings) -> Any:
    """The gateway's prediction record that canary analysis reads (mlgate.serving.record.PredictionStore)."""
    return PredictionStore(default_store_url(settings), getattr(settings, "prediction_retention_rows", 100_000))


def rollout_start(
    name: str,
    version: str | int,
    steps: str | list[float] | None = None,
    bake: str | float | None = None,
    reason: str | None = None,
    registry: Registry | None = None,
    force: bool = False,
    router: TrafficRouter | None = None,
) -> RolloutStatus:
    """Start a canary rollout of ``version`` at the first step's weight (it must pass the canary gate,
    unless ``force`` with a ``reason``, recorded as forced)."""
    seconds = None if bake is None else parse_duration(bake, "bake", error=UsageError)
    return rollout_steps.start(
        registry_or_connect(registry),
        name,
        str(version),
        steps=steps,
        bake_seconds=seconds,
        reason=reason,
        force=force,
        router=router,
    )


def rollout_advance(
    name: str, reason: str | None = None, registry: Registry | None = None, router: TrafficRouter | None = None
) -> RolloutStatus:
    """Move the rollout to its next step now; past the last one the canary becomes production."""
    return rollout_steps.advance(registry_or_connect(registry), name, reason=reason, router=router)


def rollout_pause(name: str, reason: str | None = None, registry: Registry | None = None) -> RolloutStatus:
    """Hold the canary at its current weight until `rollout resume` (no traffic moves)."""
    return rollout_steps.pause(registry_or_connect(registry), name, reason=reason)


def rollout_resume(name: str, registry: Registry | None = None, router: TrafficRouter | None = None) -> RolloutStatus:
    """Continue a paused rollout; the current step bakes again from now."""
    return rollout_steps.resume(registry_or_connect(registry), name, router=router)


def rollout_abort(
    name: str, reason: str | None = None, registry: Registry | None = None, router: TrafficRouter | None = None
) -> RolloutStatus:
    """Send all traffic back to production and mark the canary failed."""
    return rollout_steps.abort(registry_or_connect(registry), name, reason=reason, router=router)


def rollout_status(
    name: str, live: bool = True, registry: Registry | None = None, router: TrafficRouter | None = None
) -> RolloutStatus:
    """The rollout's plan, current step, the router's view of traffic, figures (live from the gateway's record)
    and time to the next decision."""
    reg = registry_or_connect(registry)
    source = record_source(reg.settings) if live else None
    return rollout_state(reg, name, source=source, router=router)


def rollout_run(
    name: str,
    poll_seconds: float = 5.0,
    max_seconds: float | None = None,
    registry: Registry | None = None,
    source: Any = None,
    router: TrafficRouter | None = None,
) -> RolloutStatus:
    """Drive the rollout (analysis after each bake period; advance or abort) until it ends or pauses."""
    reg = registry_or_connect(registry)
    return driver.run(
        reg,
        name,
        source or record_source(reg.settings),
        router=router,
        poll_seconds=poll_seconds,
        max_seconds=max_seconds,
    )


def watch(
    name: str, duration: str | float | None = None, poll_seconds: float = 5.0, max_seconds: float | None = None,
    registry: Registry | None = None, source: Any = None, router: TrafficRouter | None = None,
) -> WatchResult:  # fmt: skip
    """Watch production (after a promote) for ``duration`` (default: rollout.yaml's ``watch``) against the previous
    version's record; a breach rolls back to the last known good. Resumes a watch that was stopped or killed."""
    reg = registry_or_connect(registry)
    seconds = None if duration is None else parse_duration(duration, "--for", error=UsageError)
    source = source or record_source(reg.settings)
    return run_watch(reg, name, source, seconds, router, poll_seconds=poll_seconds, max_seconds=max_seconds)
