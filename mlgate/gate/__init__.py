"""The release gate: whether a version has a passing gate report for a stage under the current policy."""

from __future__ import annotations

from mlgate.gate.record import GateRecord, gate_record, policy_hash

__all__ = ["GateRecord", "gate_record", "policy_hash"]
