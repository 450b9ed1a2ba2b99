"""Rollback-readiness checks: a last known good version to return to, and reversible data migrations."""

from __future__ import annotations

from typing import Any

from mlgate.gate.context import GateContext
from mlgate.gate.report import Outcome, failed, passed, warned
from mlgate.gate.spec import CheckSpec, allowed_params, boolean, no_params
from mlgate.registry import keys, states
from mlgate.registry.card import stored_card

AREA = "rollback"


def last_known_good(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """After this release there is a version to roll back to, or this is the first release (and says so)."""
    versions = ctx.registry.versions(ctx.name)
    target = states.last_known_good(versions, ctx.version)
    if target is not None:
        _, why = states.qualifies_as_last_known_good(target)
        return passed(f"rollback target if this release fails: v{target.version} ({why})")
    held = [
        mv for mv in versions if (mv.tags or {}).get(keys.HELD_PRODUCTION) == "true" and str(mv.version) != ctx.version
    ]
    if not held:
        return warned(
            "first release: no version has held production, so there is no last known good version to roll back to",
            "keep the previous serving path until this version has proven itself",
        )
    reasons = "; ".join(f"v{mv.version}: {states.qualifies_as_last_known_good(mv)[1]}" for mv in held)
    return failed(
        f"no version qualifies as last known good ({reasons})",
        "smoke-test a previous version in production first (`mlgate smoke`), or release with --force --reason",
    )


def data_migrations(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """Every data migration of this release is declared reversible or not (irreversible ones are called out)."""
    card, _ = stored_card(ctx.registry, ctx.model_version)
    if card is None:
        return failed("no model card on the version, so its data migrations are unknown", "register it with a card")
    if not card.data_migrations:
        return passed("the model card declares no data migration")
    irreversible = [m.name for m in card.data_migrations if not m.reversible]
    listing = ", ".join(f"{m.name} ({'reversible' if m.reversible else 'IRREVERSIBLE'})" for m in card.data_migrations)
    if not irreversible:
        return passed(f"all reversible: {listing}")
    if not params.get("allow_irreversible", True):
        return failed(f"irreversible migration(s): {listing}", "make them reversible, or allow them in the policy")
    return warned(
        f"irreversible migration(s): {listing}",
        "a rollback will not undo them: it needs `mlgate rollback --accept-irreversible`",
    )


SPECS: tuple[CheckSpec, ...] = (
    CheckSpec("last_known_good", AREA, last_known_good, no_params),
    CheckSpec("data_migrations", AREA, data_migrations, allowed_params(allow_irreversible=boolean)),
)
