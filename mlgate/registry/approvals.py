"""Approval records of a version: one run per decision (never rewritten), its encoding, the acting user, description.

A decision is written as its own run in the model's approvals experiment (``mlgate-approvals/<model>``,
apart from the history, so reading the decisions does not grow with it; tags ``mlgate.record = approval``,
the version, and the decision as JSON under its key
``mlgate.approval.<stage>.<time ns>.<random>``), so two people deciding at once never overwrite each
other (no read-modify-write) and the version's page in the MLflow UI shows no JSON. Reading them back
is one filtered search (:func:`stored_decisions`, :func:`decisions_for`); what they add up to is the
``approval`` gate check's business.

Before, each decision was a version tag under its key, holding the JSON: such tags are read too, and a
user who may edit the model but not write to its approvals experiment (an approver under basic-auth)
still records decisions there; ``mlgate migrate`` moves them (mlgate.registry.version_migration).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import PermissionDenied
from mlgate.registry import history, keys
from mlgate.registry.events import utcnow

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlgate.registry.client import Registry

APPROVE = "approve"
REJECT = "reject"
DECISIONS = (APPROVE, REJECT)
MAX_COMMENT = 1000
DESCRIPTION_HEADING = "### Approvals"
CURRENT_USER_ENDPOINT = "/api/2.0/mlflow/users/current"  # MLflow's basic-auth app: who these credentials are
RECORD_TAG = "mlgate.record"  # on a run of a companion experiment that is not an event: what it holds
RECORD_KIND = "approval"
KEY_TAG = "mlgate.approval.key"  # the decision's key (as the old tag's name): sorts by time, unique
VERSION_TAG = "mlgate.approval.version"
STAGE_TAG = "mlgate.approval.stage"
JSON_TAG = "mlgate.approval.json"  # longer ones continue in mlgate.approval.json.1, .2, ...


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
    """Every decision kept the old way, in a version's tags (for ``stage``, or all), oldest first; bad ones skipped."""
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


def rejection_after(decisions: list[Decision], stage: str, since: str | None) -> Decision | None:
    """The newest rejection for ``stage`` among ``decisions`` (oldest first) made after ``since`` (ISO; None: ever).

    A gate report made before it no longer tells whether the stage is approved: the gate must run again.
    """
    found = [d for d in decisions if d.stage == stage and not d.approves and (since is None or d.at > since)]
    return found[-1] if found else None


def write_decision(registry: Registry, name: str, version: str, decision: Decision, key: str = "") -> Decision:
    """Record ``decision`` as its own run (one write, nothing read first); returns it with its key.

    Without write permission on the model's approvals experiment, as its own version tag (the old home)."""
    key = key or new_key(decision.stage)
    text = decision.to_json()
    try:
        exp = history.experiment_id(registry, name, create=True, prefix=history.APPROVALS_PREFIX)
        tags = {RECORD_TAG: RECORD_KIND, KEY_TAG: key, VERSION_TAG: str(version), STAGE_TAG: decision.stage}
        tags.update(history.chunked(JSON_TAG, text))
        ms = int(key.split(".")[-2]) // 1_000_000
        run_name = f"{decision.decision} v{version} for {decision.stage}"
        run = registry.call(
            "recording a decision", registry.client.create_run, exp, start_time=ms, tags=tags, run_name=run_name
        )
        from mlflow.entities import RunStatus

        store = registry.client._tracking_client.store  # one UpdateRun: set_terminated reads back and prints links
        registry.call("closing a decision", store.update_run_info, run.info.run_id, RunStatus.FINISHED, ms, None)
    except PermissionDenied:
        registry.set_version_tag(name, version, key, text)
    return Decision.from_json(text, key)


def _from_run(run: Any) -> tuple[str, Decision] | None:
    tags = run.data.tags
    key, version, text = tags.get(KEY_TAG), tags.get(VERSION_TAG), history.unchunked(tags, JSON_TAG)
    if not key or version is None or text is None:
        return None
    try:
        decision = Decision.from_json(text, key)
    except (ValueError, TypeError):
        return None
    return (version, decision) if decision.decision in DECISIONS else None


def stored_decisions(registry: Registry, name: str, version: str | None = None) -> dict[str, list[Decision]]:
    """version -> its decisions kept as runs (of ``version`` only, when given), oldest first: one filtered search."""
    exp = history.experiment_id(registry, name, prefix=history.APPROVALS_PREFIX)
    if exp is None:
        return {}
    terms = [f"tags.`{RECORD_TAG}` = '{RECORD_KIND}'"]
    if version is not None:
        terms.append(f"tags.`{VERSION_TAG}` = '{str(version).replace(chr(39), '')}'")
    found: dict[str, list[Decision]] = {}
    token: str | None = None
    while True:
        page = registry.call(
            "reading the approvals",
            registry.client.search_runs,
            [exp],
            filter_string=" AND ".join(terms),
            max_results=1000,
            page_token=token,
        )
        for v, decision in filter(None, map(_from_run, page)):
            found.setdefault(v, []).append(decision)
        token = page.token
        if not token or not page:
            break
    return {v: sorted(ds, key=lambda d: (d.at, d.key)) for v, ds in found.items()}


def decisions_for(
    registry: Registry, mv: ModelVersion, stage: str | None = None, stored: dict[str, list[Decision]] | None = None
) -> list[Decision]:
    """Every decision on a version from both homes (runs, old tags), each key once, oldest first.

    ``stored``: what :func:`stored_decisions` read for the whole model (else it is read for this version)."""
    version = str(mv.version)
    runs = (stored if stored is not None else stored_decisions(registry, mv.name, version)).get(version, [])
    merged = {d.key: d for d in decisions_of(dict(mv.tags or {}))}
    merged.update({d.key: d for d in runs})
    return sorted((d for d in merged.values() if stage is None or d.stage == stage), key=lambda d: (d.at, d.key))


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
    """Rewrite the "Approvals" section of the version's description (the MLflow UI) from its decisions.

    Derived from the records only, so running it again always converges; callers hold the model's lock.
    """
    mv = registry.version(name, version)
    wanted = render_description(mv.description, decisions_for(registry, mv))
    if wanted != (mv.description or ""):
        registry.call(
            f"updating the description of {name} v{version}",
            registry.client.update_model_version,
            name,
            str(version),
            description=wanted,
        )
