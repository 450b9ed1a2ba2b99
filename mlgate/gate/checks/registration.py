"""Registry checks: the model card stored on the version is complete, and the version has a description."""

from __future__ import annotations

from typing import Any

from mlgate.gate.context import GateContext
from mlgate.gate.report import Outcome, failed, passed
from mlgate.gate.spec import CheckSpec, no_params
from mlgate.registry.card import stored_card
from mlgate.registry.describe import card_part

AREA = "registry"


def card_complete(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """The model card names owner, intended use, description and training data (with its sha256)."""
    card, problems = stored_card(ctx.registry, ctx.model_version)
    if card is None:
        return failed("model card incomplete: " + "; ".join(problems), "fix the card and register the version again")
    return passed(
        f"owner {card.owner}; training data {card.training_data_name} (sha256 {card.training_data_sha256[:12]}…)"
    )


def description_present(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """The registered version has a description a person can read in the MLflow UI."""
    description = card_part(ctx.model_version.description).strip()  # not the sections mlgate writes itself
    if not description:
        return failed("the version has no description", "register it with `mlgate register` (it writes the card)")
    first = description.splitlines()[0]
    return passed(f"{len(description)} characters: {first[:80]}")


SPECS: tuple[CheckSpec, ...] = (
    CheckSpec("card_complete", AREA, card_complete, no_params),
    CheckSpec("description_present", AREA, description_present, no_params),
)
