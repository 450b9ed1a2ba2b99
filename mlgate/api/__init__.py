"""mlgate's Python API: one typed function per user action, re-exported from the modules by concern."""

from mlgate.api.feedback import feedback_load
from mlgate.api.lifecycle import approve, check, lint, promote, register, reject, reproduce, rollback, smoke
from mlgate.api.migrate import Migration, migrate
from mlgate.api.monitoring import monitor
from mlgate.api.rollout import (
    record_source,
    rollout_abort,
    rollout_advance,
    rollout_pause,
    rollout_resume,
    rollout_run,
    rollout_start,
    rollout_status,
    watch,
)
from mlgate.api.session import connect
from mlgate.api.views import StatusReport, history, runbook, status, which

__all__ = [
    "Migration",
    "StatusReport",
    "approve",
    "check",
    "connect",
    "feedback_load",
    "history",
    "lint",
    "migrate",
    "monitor",
    "promote",
    "record_source",
    "register",
    "reject",
    "reproduce",
    "rollback",
    "rollout_abort",
    "rollout_advance",
    "rollout_pause",
    "rollout_resume",
    "rollout_run",
    "rollout_start",
    "rollout_status",
    "runbook",
    "smoke",
    "status",
    "watch",
    "which",
]
