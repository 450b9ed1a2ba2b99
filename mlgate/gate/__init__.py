"""The release gate: a checklist as code, run per stage, whose report is stored on the version.

    load_policy(settings, name) -> Policy            the checks each stage requires (policy.py)
    run_gate(registry, name, version, stage) -> GateReport    run them (engine.py)
    store_report(registry, report) -> GateReport     JSON + HTML artifacts, tags, an event (report.py)
    gate_record(registry, name, version, stage)      does a passing report under this policy exist (record.py)

A custom check is a function ``fn(ctx: GateContext, params: dict) -> Outcome | bool`` named in the
policy as ``module:function``; build its outcome with ``passed``, ``failed`` or ``warned``.

Imports run one way: spec.py (CheckSpec, parameter validators) and context.py (GateContext: what a
check reads) ← checks/<area>.py ← builtin.py (the explicit list) ← policy.py ← engine.py, record.py.
Metric names come from mlgate.stats.metrics, the vocabulary training logs with.
"""

from __future__ import annotations

from mlgate.gate.record import GateRecord, gate_record, policy_hash
from mlgate.gate.report import CheckResult, GateReport, Outcome, failed, passed, store_report, warned

__all__ = [
    "CheckResult",
    "GateRecord",
    "GateReport",
    "Outcome",
    "failed",
    "gate_record",
    "passed",
    "policy_hash",
    "store_report",
    "warned",
]
