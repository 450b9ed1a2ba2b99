"""Approval records on a version: one tag per decision (never rewritten), its encoding, the acting user, description.

A decision is written as its own version tag ``mlgate.approval.<stage>.<time ns>.<random>`` holding
JSON, so two people deciding at once never overwrite each other (no read-modify-write). Reading
them back is :func:`decisions_of`; what they add up to is the ``approval`` gate check's business.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import PermissionDenied
from mlgate.registry import keys
from mlgate.registry.events import utcnow

if TYPE_CHECKING:
    from mlgate.registry.client import Registry

APPROVE = "approve"
REJECT = "reject"
DECISIONS = (APPROVE, REJECT)
MAX_COMMENT = 1000
DESCRIPTION_HEADING = "### Approvals"
CURRENT_USER_ENDPOINT = "/api/2.0/mlflow/users/current"  # MLflow's basic-auth app: who these credentials are


@dataclass(frozen=True)
class Decision:
    """One approval or rejection of a version for a stage, as recorded on the version."""

    decision: str  # approve | reject
    stage: str
    by: str
    at: str = field(default_factory=utcnow)
    comment: str = ""
    identity: str = "settings"  # mlflow-auth (the server's authenticated user) | settings (mlgate's actor)
    policy_sha256: str = ""  # the release policy in force when the decision was made
    gate_report: dict[str, Any] | None = None  # the stage's last gate report then: path, result, at, policy
    key: str = ""  # the tag holding it (filled in when read back)

    @property
    def approves(self) -> bool:
        return self.decision == APPROVE

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("key")
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, key: str = "") -> Decision:
        data = json.loads(text)
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "key"}
        return cls(**known, key=key)

    def line(self) -> str:
        """One line for a person: who decided what, when, and why."""
        verb = "approved" if self.approves else "rejected"
        said = f': "{one_line(self.comment)}"' if self.comment else ""
        return f"{verb} for {self.stage} by {self.by} at {self.at[:19].replace('T', ' ')} UTC{said}"


def one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line (newlines and runs of spaces folded), cut at ``limit`` characters."""
    folded = " ".join(str(text).split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def new_key(stage: str) -> str:
    """A fresh tag key for one decision: sorts by time, unique even within the same nanosecond."""
    return f"{keys.APPROVAL_PREFIX}{stage}.{time.time_ns():020d}.{uuid.uuid4().hex[:6]}"


def decisions_of(tags: dict[str, str], stage: str | None = None) -> list[Decision]:
    """Every decision recorded in a version's tags (for ``stage``, or all), oldest first; unreadable ones skipped."""
    found = []
    for key, value in tags.items():
        if not key.startswith(keys.APPROVAL_PREFIX):
            continue
        try:
            decision = Decision.from_json(value, key)
        except (ValueError, TypeError):
            continue
        if decision.decision in DECISIONS and (stage is None or decision.stage == stage):
            found.append(decision)
    return sorted(found, key=lambda d: (d.at, d.key))


def rejection_after(tags: dict[str, str], stage: str, since: str | None) -> Decision | None:
    """The newest rejection for ``stage`` made after ``since`` (an ISO time; None: ever), if any.

    A gate report made before it no longer tells whether the stage is approved: the gate must run again.
    """
    rejections = [d for d in decisions_of(tags, stage) if not d.approves and (since is None or d.at > since)]
    return rejections[-1] if rejections else None


def write_decision(registry: Registry, name: str, version: str, decision: Decision) -> Decision:
    """Record ``decision`` as its own version tag (one write, nothing read first); returns it with its key."""
    key = new_key(decision.stage)
    registry.set_version_tag(name, version, key, decision.to_json())
    return Decision.from_json(decision.to_json(), key)


def acting_user(registry: Registry) -> tuple[str, str]:
    """Who is deciding: (user, source).

    On an MLflow server with the basic-auth app and credentials set (MLFLOW_TRACKING_USERNAME or
    ~/.mlflow/credentials), the user the server authenticated ("mlflow-auth"), whatever MLGATE_ACTOR
    says; otherwise mlgate's configured actor ("settings").
    """
    uri = registry.settings.tracking_uri
    if not uri.startswith(("http://", "https://")):
        return registry.settings.actor, "settings"
    from mlflow.utils.credentials import get_default_host_creds, read_mlflow_creds
    from mlflow.utils.rest_utils import http_request

    if not read_mlflow_creds().username:
        return registry.settings.actor, "settings"
    response = registry.call(
        "asking the MLflow server who you are",
        http_request,
        get_default_host_creds(uri),
        CURRENT_USER_ENDPOINT,
        "GET",
        max_retries=1,
        timeout=10,
        raise_on_status=False,
    )
    if response.status_code == 404:  # a server without the basic-auth app: credentials name nobody
        return registry.settings.actor, "settings"
    if response.status_code in (401, 403):
        raise PermissionDenied(
            "the MLflow server does not accept your credentials, so it cannot say who is deciding",
            "check MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD",
        )
    try:
        username = str(response.json()["user"]["username"])
    except (ValueError, KeyError, TypeError):
        return registry.settings.actor, "settings"
    return username, "mlflow-auth"


def render_description(current: str | None, decisions: list[Decision]) -> str:
    """The version's description with its "Approvals" section (re)written from ``decisions``."""
    base = (current or "").split(f"\n\n{DESCRIPTION_HEADING}\n")[0].rstrip()
    if not decisions:
        return base
    lines = [f"- {'✅' if d.approves else '❌'} {d.line()}" for d in decisions]
    note = "_Whether they still count (policy changes, newer gate reports): `mlgate status`._"
    return "\n".join([base, "", DESCRIPTION_HEADING, *lines, "", note]).lstrip()


def refresh_description(registry: Registry, name: str, version: str) -> None:
    """Rewrite the "Approvals" section of the version's description (the MLflow UI) from its decision tags.

    Derived from the tags only, so running it again always converges; callers hold the model's lock.
    """
    mv = registry.version(name, version)
    wanted = render_description(mv.description, decisions_of(dict(mv.tags or {})))
    if wanted != (mv.description or ""):
        registry.call(
            f"updating the description of {name} v{version}",
            registry.client.update_model_version,
            name,
            str(version),
            description=wanted,
        )
