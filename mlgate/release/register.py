"""Register a logged model as a new version, with its model card (and data contract) checked before any write."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.registry import Event, keys, states
from mlgate.registry.card import ModelCard

if TYPE_CHECKING:
    from mlgate.contracts import Contract
    from mlgate.registry import Registry


@dataclass(frozen=True)
class Registration:
    """A newly registered version and what was stored with it."""

    model: str
    version: str
    card: ModelCard
    contract: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "card": self.card.to_dict(), "contract": self.contract}


def register(
    registry: Registry, name: str, model_uri: str, model_card: ModelCard, bound_contract: Contract | None = None
) -> Registration:
    """Register ``model_uri`` as a new version of ``name`` with its (already checked) card and contract.

    Tags, description, the card and contract as artifacts, and a ``register`` event.
    """
    reg = registry
    tags = {**model_card.to_tags(), keys.STATUS: states.CANDIDATE, keys.REGISTERED_BY: reg.settings.actor}
    if bound_contract is not None:
        tags.update(bound_contract.to_tags())
    mv = reg.create_version(name, model_uri, tags, model_card.to_markdown())
    version = str(mv.version)
    with tempfile.TemporaryDirectory(prefix="mlgate-register-") as tmp:
        card_file = Path(tmp) / Path(keys.CARD_ARTIFACT).name
        card_file.write_text(model_card.to_yaml())
        reg.log_version_artifact(name, version, card_file, keys.version_artifact_dir(name, version))
        if bound_contract is not None:
            contract_file = Path(tmp) / Path(keys.CONTRACT_ARTIFACT).name
            contract_file.write_text(bound_contract.source_text)
            reg.log_version_artifact(name, version, contract_file, keys.version_artifact_dir(name, version))
    details: dict[str, Any] = {"model_uri": model_uri, "owner": model_card.owner}
    if bound_contract is not None:
        details["contract"] = f"{bound_contract.name}@{bound_contract.version}"
    reg.record_event(
        Event(action="register", model=name, to_version=version, actor=reg.settings.actor, details=details)
    )
    return Registration(name, version, model_card, bound_contract.summary() if bound_contract else None)
