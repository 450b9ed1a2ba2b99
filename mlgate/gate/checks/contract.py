"""Data-contract checks: a contract is bound, training data passed it, and it is compatible with production's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlgate import keys
from mlgate.gate.checks import no_params
from mlgate.gate.report import Outcome, failed, passed

if TYPE_CHECKING:
    from mlgate.gate.engine import GateContext

AREA = "data contract"


def _bound(tags: dict[str, str]) -> str | None:
    name, version = tags.get(keys.CONTRACT_NAME), tags.get(keys.CONTRACT_VERSION)
    return f"{name}@{version}" if name and version else None


def contract_bound(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """A data contract is bound to the version (its name, version and sha256 tags, and its file)."""
    tags = ctx.tags
    bound = _bound(tags)
    if bound is None or not tags.get(keys.CONTRACT_SHA256):
        return failed(
            "no data contract is bound to the version",
            "register the version with `mlgate register --contract CONTRACT.yaml`",
        )
    if ctx.artifact(keys.CONTRACT_ARTIFACT) is None:
        return failed(
            f"contract {bound} is named in the tags but its file {keys.CONTRACT_ARTIFACT} is not stored",
            "register the version again with --contract so the contract file is stored with it",
        )
    return passed(f"contract {bound} bound (sha256 {tags[keys.CONTRACT_SHA256][:12]})", contract=bound)


def contract_validated(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """The training data was validated against the contract, and passed."""
    result = ctx.run_tags.get(keys.CONTRACT_VALIDATION_TAG)
    if result == "passed":
        return passed(f"training data passed contract validation (run tag {keys.CONTRACT_VALIDATION_TAG})")
    if result is None:
        return failed(
            f"the training run records no contract validation (run tag {keys.CONTRACT_VALIDATION_TAG})",
            "validate the training data against the contract in the pipeline (mlgate.training does it)",
        )
    return failed(
        f"the training data failed contract validation ({keys.CONTRACT_VALIDATION_TAG}={result})",
        f"read {keys.CONTRACT_VALIDATION_ARTIFACT} in the run, fix the data or the contract, and retrain",
    )


def contract_compatible(ctx: GateContext, params: dict[str, Any]) -> Outcome:
    """The contract and signature are compatible with the current production version's."""
    production = ctx.production_version
    if production is None:
        return passed("no other version is in production: nothing to be compatible with (first release)")
    contract_of_version = ctx.require("mlgate.contracts", "contract_of_version", "reads a version's contract")
    compatible = ctx.require("mlgate.contracts", "compatible", "compares two contracts")
    new = contract_of_version(ctx.registry, ctx.name, ctx.version)
    old = contract_of_version(ctx.registry, ctx.name, production)
    if new is None:
        return failed("no data contract is bound to the version", "register it with --contract")
    new_signature = ctx.package().signature
    old_signature = ctx.package(production).signature
    verdict = compatible(old, new, old_signature, new_signature)
    if verdict.ok:
        return passed(f"compatible with production v{production}'s contract and signature")
    reasons = "; ".join(map(str, verdict.reasons))
    return failed(
        f"incompatible with production v{production}: {reasons}",
        "keep the inputs compatible, or bump the contract's major version and plan the migration",
        reasons=list(map(str, verdict.reasons)),
    )


CHECKS = {
    "contract_bound": (contract_bound, no_params),
    "contract_validated": (contract_validated, no_params),
    "contract_compatible": (contract_compatible, no_params),
}
