"""What `mlgate rollout status` shows: the plan, the step, live figures and the time to the next decision."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlgate.release.rollout.analysis import Analysis, RecordSource
from mlgate.release.rollout.judging import judge_step
from mlgate.release.rollout.policy import load_rollout_policy
from mlgate.release.rollout.state import RUNNING, Clock, RolloutState, load_state
from mlgate.release.rollout.watch_state import WatchState, load_watch
from mlgate.traffic import RecordedRouter, router_for

if TYPE_CHECKING:
    from mlgate.registry import Registry
    from mlgate.traffic import TrafficRouter


@dataclass(frozen=True)
class RolloutStatus:
    """What `mlgate rollout status` shows: the plan, the current step, figures, time to the next decision."""

    model: str
    state: RolloutState | None
    weight: float
    seconds_to_decision: float | None
    analysis: Analysis | None = None
    notes: list[str] = field(default_factory=list)
    watch: WatchState | None = None  # the post-promotion watch (release/rollout/watch.py), if any
    router: str | None = None  # a platform router's view (HAProxy, ...): what it says serves; None for the built-in

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "state": asdict(self.state) if self.state else None,
            "weight": self.weight,
            "seconds_to_decision": self.seconds_to_decision,
            "analysis": self.analysis.to_dict() if self.analysis else None,
            "notes": self.notes,
            "watch": asdict(self.watch) if self.watch else None,
            "router": self.router,
        }


def status(
    registry: Registry,
    name: str,
    source: RecordSource | None = None,
    router: TrafficRouter | None = None,
    clock: Clock = time.time,
    analysis: Analysis | None = None,
    notes: list[str] | None = None,
) -> RolloutStatus:
    """The rollout's plan and step, live figures (with ``source``) and seconds to the next decision."""
    router = router_for(registry, name, router)
    state = load_state(registry, name)
    due = None
    if state is not None and state.status == RUNNING:
        due = max(0.0, state.decision_due - clock())
    if analysis is None and source is not None and state is not None and state.active:
        since = datetime.fromtimestamp(state.step_started_at, UTC)
        until = datetime.fromtimestamp(clock(), UTC)
        policy = load_rollout_policy(registry.settings, name)
        analysis = judge_step(state, source, policy, name, since, until)  # shadow or canary; record or Prometheus
    if analysis is None and state is not None and state.last_analysis:
        analysis = Analysis.from_dict(state.last_analysis)
    watch = load_watch(registry, name)
    seen = router.state()  # a platform router's own view, read back from it
    view = f"{router.router.describe()}: {seen.describe()}" if isinstance(router, RecordedRouter) else None
    return RolloutStatus(name, state, seen.weight, due, analysis, list(notes or []), watch, view)
