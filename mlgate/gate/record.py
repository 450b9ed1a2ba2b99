"""The gate record on a version: passed or failed, for which stage, under which policy hash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlgate.gate.policy import POLICY_FILE, hash_files, policy_files
from mlgate.registry import keys
from mlgate.registry.approvals import Decision, decisions_for, rejection_after

if TYPE_CHECKING:
    from mlgate.config import Settings
    from mlgate.registry import Registry

__all__ = ["POLICY_FILE", "GateRecord", "gate_record", "policy_hash"]


def policy_hash(settings: Settings, name: str | None = None) -> str:
    """sha256 of the policy in force for ``name`` (policy.yaml and the model's override file).

    Changing either file invalidates earlier reports.
    """
    return hash_files(policy_files(settings, name))


@dataclass(frozen=True)
class GateRecord:
    """The outcome of the last gate run of a version for a stage, and whether it still counts."""

    stage: str
    result: str | None  # passed | failed | None (never ran)
    policy_sha256: str | None
    current_policy_sha256: str
    at: str | None
    report: str | None = None
    rejected: Decision | None = None  # a rejection recorded after this report (mlgate reject)

    @property
    def passed(self) -> bool:
        """True only for a passing report made under the policy in force now, and rejected by nobody since."""
        return self.result == "passed" and self.policy_sha256 == self.current_policy_sha256 and self.rejected is None

    def explain(self) -> str:
        """Why the record does or does not count, in one sentence."""
        if self.result is None:
            return f"the {self.stage} gate has never run on this version"
        if self.policy_sha256 != self.current_policy_sha256:
            return f"the {self.stage} gate report ({self.result}, {self.at}) was made under another policy"
        if self.rejected is not None:
            return f"the {self.stage} gate {self.result} at {self.at}, then the version was {self.rejected.line()}"
        return f"the {self.stage} gate {self.result} at {self.at}"


def gate_record(registry: Registry, name: str, version: str, stage: str) -> GateRecord:
    """Read the gate record for ``stage`` from the version's tags."""
    mv = registry.version(name, version)
    tags = mv.tags or {}
    return GateRecord(
        stage=stage,
        result=tags.get(keys.gate_tag(stage)),
        policy_sha256=tags.get(keys.gate_policy_hash_tag(stage)),
        current_policy_sha256=policy_hash(registry.settings, name),
        at=tags.get(keys.gate_time_tag(stage)),
        report=tags.get(keys.gate_report_tag(stage)),
        rejected=rejection_after(decisions_for(registry, mv, stage), stage, tags.get(keys.gate_time_tag(stage))),
    )
