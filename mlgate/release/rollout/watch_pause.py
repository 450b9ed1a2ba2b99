"""The watch's inconclusive looks: counted once per bake period, and after ``max_inconclusive`` in a row the
watch pauses for a person (production stays as it is; `mlgate watch NAME` resumes it).

Looks come every poll period but read the last bake period, so looks within one bake period read
mostly the same requests: a streak counts one inconclusive analysis per bake period.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mlgate.release.rollout.analysis import INCONCLUSIVE
from mlgate.release.rollout.judging import inconclusive_pause_reason
from mlgate.release.rollout.watch_state import PAUSED, WATCHING, Verdict, WatchState, record_watch_event, save_watch

if TYPE_CHECKING:
    from mlgate.registry import Registry
    from mlgate.release.rollout.policy import RolloutPolicy


def streak(state: WatchState, verdict: Verdict, policy: RolloutPolicy, now: float) -> dict[str, Any]:
    """The watch's inconclusive streak after this look (the fields to store)."""
    if verdict.decision != INCONCLUSIVE:
        return {"inconclusive": 0, "inconclusive_at": None}
    last = state.inconclusive_at
    if last is not None and now - last < policy.bake_seconds:
        return {}  # the same bake period as the streak's last counted look
    return {"inconclusive": state.inconclusive + 1, "inconclusive_at": now}


def pause_if_stuck(registry: Registry, state: WatchState, policy: RolloutPolicy) -> WatchState:
    """Pause the watch (the caller holds the lock) when its streak reached ``max_inconclusive``."""
    if state.inconclusive < policy.max_inconclusive:
        return state
    verdict = state.verdict()
    last = verdict.reason if verdict is not None else "no verdict"
    why = inconclusive_pause_reason(state.inconclusive, policy, last, f"`mlgate watch {state.model}` to go on")
    state = replace(state, status=PAUSED, outcome=why)
    save_watch(registry, state)
    record_watch_event(registry, state, "watch-pause", result="paused", reason=why, evidence=state.last_verdict)
    return state


def resume(registry: Registry, state: WatchState) -> tuple[WatchState, list[str]]:
    """Go on with a paused watch (the caller holds the lock): looks again, the streak from zero."""
    state = replace(state, status=WATCHING, outcome=None, inconclusive=0, inconclusive_at=None)
    save_watch(registry, state)
    record_watch_event(registry, state, "watch-resume")
    return state, [f"resumed the paused watch of v{state.version}"]
