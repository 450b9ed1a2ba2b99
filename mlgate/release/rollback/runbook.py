"""The rollback runbook: the checklist's answers as Markdown, for `rollback --dry-run` and an on-call wiki."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlgate.exceptions import RollbackError
from mlgate.release.rollback.plan import ABORT_ROLLOUT, NOTHING, RollbackPlan, RollbackResult, plan_rollback

if TYPE_CHECKING:
    from mlgate.registry import Registry


@dataclass(frozen=True)
class Runbook:
    """A rendered runbook; ``ready`` is False when rolling back is not possible now (``problem`` says why)."""

    model: str
    markdown: str
    ready: bool
    plan: RollbackPlan | None = None
    problem: str | None = None


def _migration_lines(plan: RollbackPlan) -> list[str]:
    if not plan.migrations:
        return ["- none declared by the releases in between"]
    lines = []
    for m in plan.migrations:
        if m["reversible"] is None:
            lines.append(f"- v{m['version']}: **unknown** ({m['description']})")
            continue
        kind = "reversible" if m["reversible"] else "**IRREVERSIBLE**"
        lines.append(
            f"- v{m['version']} `{m['name']}`: {kind}" + (f" — {m['description']}" if m["description"] else "")
        )
    if plan.irreversible:
        lines.append("")
        lines.append(
            "> Rollback is **refused** across an irreversible migration unless `--accept-irreversible` is given: "
            f"confirm first that v{plan.to_version} can read the migrated data."
        )
    return lines


def _owner_lines(plan: RollbackPlan) -> list[str]:
    owner = plan.decision_owner or {}
    lines = [f"- right now ({owner.get('at', '?')[:16].replace('T', ' ')} UTC): {owner.get('summary', 'unknown')}"]
    if owner.get("owner"):
        lines.append(f"- model owner (model card): {owner['owner']}")
    lines.append("- the route in force changes with the time of day: run `mlgate runbook` again, or read owners.yaml")
    return lines


def render_plan(plan: RollbackPlan, result: RollbackResult | None = None, dry_run: bool = True) -> str:
    """The checklist's answers for one plan, in Markdown (also readable as plain text)."""
    name = plan.model
    command = f"mlgate rollback {name}" + (" --accept-irreversible" if plan.irreversible else "")
    head = {
        ABORT_ROLLOUT: f"take the canary v{plan.from_version} out; production v{plan.to_version} stays",
        NOTHING: f"nothing to do: production is already v{plan.to_version}",
    }.get(plan.action, f"production v{plan.from_version} -> v{plan.to_version}")
    lines = [
        f"# Rollback runbook: {name}",
        "",
        f"**Action:** {head}" + (" (dry run: nothing changed)" if dry_run else ""),
        f"**Command:** `{command}` (or `make rollback MODEL={name}`)",
        "",
        {
            ABORT_ROLLOUT: f"## 1. Traffic goes back to: v{plan.to_version} (production, unchanged)",
            NOTHING: f"## 1. Production is already: v{plan.to_version}",
        }.get(plan.action, f"## 1. Last known good: v{plan.to_version}"),
        "",
        plan.why,
        "",
        "## 2. How traffic goes back",
        "",
        plan.traffic,
        "",
        "## 3. Data migrations of the releases in between",
        "",
        *_migration_lines(plan),
        "",
        "## 4. Decision owner",
        "",
        *_owner_lines(plan),
        "",
        "## 5. Smoke test that proves it",
        "",
        plan.smoke_test,
    ]
    if result is not None and result.smoke is not None:
        lines += ["", f"**Result:** {result.smoke.summary()}"]
    else:
        lines += ["", f"Run it by hand any time: `mlgate smoke {name}`. If it fails after a rollback, "
                  f"`mlgate rollback {name} --to VERSION` and call the decision owner."]  # fmt: skip
    notes = [n for n in [*plan.notes, *(result.notes if result else [])] if n != plan.why]
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in dict.fromkeys(notes)]]
    lines += ["", f"Afterwards: `mlgate history {name}` shows this rollback and the checklist's answers."]
    return "\n".join(lines) + "\n"


def runbook(registry: Registry, name: str, now: datetime | None = None) -> Runbook:
    """The rollback runbook of ``name`` as of ``now``; when no rollback is possible it says why."""
    now = now or datetime.now(UTC)
    try:
        plan = plan_rollback(registry, name, now=now)
    except RollbackError as exc:
        text = "\n".join(
            [
                f"# Rollback runbook: {name}",
                "",
                f"**Rollback is not possible right now:** {exc.message}",
                "",
                f"What to do: {exc.hint}" if exc.hint else "",
                "",
                f"Generated {now.isoformat(timespec='minutes')}.",
            ]
        )
        return Runbook(name, text + "\n", False, None, exc.message)
    text = render_plan(plan, dry_run=False)
    text += f"\nGenerated {now.isoformat(timespec='minutes')} from the registry; regenerate after every release.\n"
    return Runbook(name, text, True, plan)
