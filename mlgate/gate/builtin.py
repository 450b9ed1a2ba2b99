"""The built-in checks as an explicit list: every check module's specs, in the order reports show them."""

from __future__ import annotations

from mlgate.gate.checks import approval, cicd, contract, monitoring, registration, reproducibility, rollback
from mlgate.gate.spec import CheckSpec

BUILTIN_SPECS: tuple[CheckSpec, ...] = (
    *contract.SPECS,
    *reproducibility.SPECS,
    *cicd.SPECS,
    *registration.SPECS,
    *monitoring.SPECS,
    *rollback.SPECS,
    *approval.SPECS,
)
BUILTIN: dict[str, CheckSpec] = {spec.name: spec for spec in BUILTIN_SPECS}
