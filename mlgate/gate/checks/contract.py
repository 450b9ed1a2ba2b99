"""Data-contract checks: a contract is bound, training data passed it, and it is compatible with production's."""

from __future__ import annotations

from typing import Any

from mlgate.contracts import compatible
from mlgate.gate.context import GateContext
from mlgate.gate.report import Outcome, failed, passed, warned
from mlgate.gate.spec import CheckSpec, no_params
from mlgate.registry import keys

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
    contract = ctx.contract()  # reads the stored file and checks it against the recorded sha256
    if contract is None:
        return failed("no data contract is bound to the version", "register it with --contract")
    return passed(
        f"contract {bound} bound: {len(contract.columns)} columns, backfill {contract.backfill.strategy}, "
        f"sha256 {contract.sha256[:12]}…",
        contract=bound,
    )


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
    new = ctx.contract()
    old = ctx.contract(production)
    if new is None:
        return failed("no data contract is bound to the version", "register it with --contract")
    if old is None:
        return warned(
            f"production v{production} has no data contract: nothing to compare {new.name}@{new.version} with",
            "from now on every version carries a contract, so the next release is compared",
        )
    verdict = compatible(old, new, ctx.package(production).signature, ctx.package().signature)
    notes = "; ".join(map(str, getattr(verdict, "notes", []) or []))
    if verdict.ok:
        return passed(
            f"{new.name}@{new.version} and signature compatible with production v{production}'s "
            f"{old.name}@{old.version}" + (f" (notes: {notes})" if notes else "")
        )
    reasons = "; ".join(map(str, verdict.reasons))
    return failed(
        f"incompatible with production v{production}: {reasons}",
        "keep the inputs compatible, or bump the contract's major version and plan the migration",
        reasons=list(map(str, verdict.reasons)),
    )


SPECS: tuple[CheckSpec, ...] = (
    CheckSpec("contract_bound", AREA, contract_bound, no_params),
    CheckSpec("contract_validated", AREA, contract_validated, no_params),
    CheckSpec("contract_compatible", AREA, contract_compatible, no_params),
)
