"""A rollout's state as stored on the registered model (tag ``mlgate.rollout``), and its events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import TransitionRefused
from mlgate.registry import Event, keys
from mlgate.registry.stored import load_tagged, save_tagged

if TYPE_CHECKING:
    from mlgate.registry import Registry

RUNNING, PAUSED, ABORTED, COMPLETED = "running", "paused", "aborted", "completed"
COMPLETING = "completing"  # written before the canary becomes production; a resumed run finishes it
ACTIVE = (RUNNING, PAUSED)
ABORT_SIGNAL = "canary.aborted"  # the alert signal of an aborted canary
Clock = Callable[[], float]


@dataclass
class RolloutState:
    """One rollout as stored in the registry."""

    model: str
    version: str
    baseline: str  # production version when the rollout started
    steps: list[float]
    bake_seconds: float
    step: int = 0
    status: str = RUNNING
    started_at: float = 0.0
    step_started_at: float = 0.0
    extensions: int = 0
    extended_at: float = 0.0  # when the last inconclusive analysis was made: the next bake runs from then
    actor: str = "unknown"
    reason: str | None = None
    ended_at: float | None = None
    outcome: str | None = None  # why it paused, aborted or completed
    last_analysis: dict[str, Any] | None = None

    @property
    def weight(self) -> float:
        return self.steps[self.step]

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def decision_due(self) -> float:
        """When the current step is judged: a bake period after it started, and after each inconclusive analysis
        (from when that analysis was made, so a driver started late does not judge overdue periods back to back)."""
        first = self.step_started_at + self.bake_seconds * (1 + self.extensions)
        return max(first, self.extended_at + self.bake_seconds) if self.extensions else first


def load_state(registry: Registry, name: str) -> RolloutState | None:
    """The rollout stored on the model (the latest, whatever its status), or None."""
    return load_tagged(
        registry, name, keys.ROLLOUT, RolloutState, "rollout state",
        f"inspect it in the MLflow UI; `mlgate rollout abort {name}` resets it",
    )  # fmt: skip


def save_state(registry: Registry, state: RolloutState) -> None:
    """Write the rollout's state whole (before traffic moves, so a killed process resumes from it)."""
    save_tagged(registry, state.model, keys.ROLLOUT, state)


def record_event(
    registry: Registry, state: RolloutState, action: str, result: str = "completed", **details: Any
) -> None:
    registry.record_event(
        Event(
            action=action,
            model=state.model,
            from_version=state.baseline,
            to_version=state.version,
            actor=registry.settings.actor,
            reason=details.pop("reason", None),
            result=result,
            details={"step": state.step + 1, "of": len(state.steps), "weight": state.weight, **details},
        )
    )


def active_rollout(registry: Registry, name: str) -> RolloutState:
    state = load_state(registry, name)
    if state is None or not state.active:
        raise TransitionRefused(
            f"{name} has no rollout in progress" + (f" (the last one {state.status})" if state else ""),
            f"start one with `mlgate rollout start {name} VERSION`",
        )
    return state
