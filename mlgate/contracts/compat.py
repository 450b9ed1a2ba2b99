"""Compatibility between model versions: can the new contract (and MLflow signature) serve the old inputs?"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlgate.contracts.model import Column, Contract

# MLflow signature types each contract type may appear as.
_SIGNATURE_TYPES = {
    "float": {"double", "float"},
    "int": {"long", "integer", "double", "float"},
    "str": {"string"},
    "bool": {"boolean"},
}


@dataclass(frozen=True)
class Compatibility:
    """The verdict: ``ok`` when the new version accepts every input the old one did; ``reasons`` say why not."""

    ok: bool
    reasons: list[str]
    notes: list[str] = field(default_factory=list)  # changes that do not block, worth a reviewer's eye

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reasons": list(self.reasons), "notes": list(self.notes)}


def _valid_set_tightened(old: Column, new: Column) -> list[str]:
    out = []
    if new.min is not None and (old.min is None or new.min > old.min):
        out.append(f"min raised from {old.min} to {new.min}")
    if new.max is not None and (old.max is None or new.max < old.max):
        out.append(f"max lowered from {old.max} to {new.max}")
    if new.allowed is not None:
        dropped = [v for v in (old.allowed or ()) if v not in new.allowed]
        if old.allowed is None:
            out.append("allowed values introduced")
        elif dropped:
            out.append(f"allowed values removed: {', '.join(map(repr, dropped))}")
    return out


def compatible(
    old: Contract,
    new: Contract,
    old_signature: Any = None,
    new_signature: Any = None,
) -> Compatibility:
    """Whether ``new`` can serve the inputs ``old`` accepted.

    Rules: a removed column or a changed type is never compatible; an added column must be nullable;
    tightened nullability, range, allowed values or ``extra_columns`` need a new major version; the same
    version number with different content is refused. MLflow signatures, when given, are compared the
    same way and checked against the new contract's columns.
    """
    reasons: list[str] = []
    notes: list[str] = []
    major_bump = new.major > old.major
    if new.version == old.version and new.sha256 != old.sha256:
        reasons.append(f"contract {new.name}@{new.version} changed without a new version number")
    if new.name != old.name:
        notes.append(f"contract renamed from {old.name} to {new.name}")
    new_cols = {c.name: c for c in new.columns}
    old_cols = {c.name: c for c in old.columns}
    for name, oc in old_cols.items():
        nc = new_cols.get(name)
        if nc is None:
            reasons.append(f"column {name} removed")
            continue
        if nc.type != oc.type:
            reasons.append(f"column {name} changed type from {oc.type} to {nc.type}")
        tightened = []
        if oc.nullable and not nc.nullable:
            tightened.append("no longer nullable")
        tightened += _valid_set_tightened(oc, nc)
        for what in tightened:
            text = f"column {name}: {what}"
            if major_bump:
                notes.append(f"{text} (allowed by the new major version {new.version}; run the backfill)")
            else:
                reasons.append(f"{text}: needs a new major version (old {old.version}, new {new.version})")
        for key in ("on_null", "on_invalid"):
            if getattr(oc, key) != getattr(nc, key):
                notes.append(f"column {name}: {key} changed from {getattr(oc, key)} to {getattr(nc, key)}")
    for name, nc in new_cols.items():
        if name in old_cols:
            continue
        if nc.nullable:
            notes.append(f"optional column {name} added")
        else:
            reasons.append(f"column {name} added as required (nullable: false): old inputs do not have it")
    if old.extra_columns == "allow" and new.extra_columns == "reject":
        text = "extra_columns tightened from allow to reject"
        (notes if major_bump else reasons).append(text if major_bump else f"{text}: needs a new major version")
    if new.backfill != old.backfill:
        notes.append(f"backfill changed to {new.backfill.strategy}: {new.backfill.description}")
    if old_signature is not None or new_signature is not None:
        _signatures(new, old_signature, new_signature, reasons, notes)
    return Compatibility(not reasons, reasons, notes)


def signature_columns(signature: Any) -> dict[str, tuple[str, bool]] | None:
    """``{name: (mlflow type, required)}`` of a signature's column inputs (ModelSignature or its dict form)."""
    if signature is None:
        return None
    inputs = getattr(signature, "inputs", None)
    if inputs is None and isinstance(signature, dict):
        raw = signature.get("inputs")
        specs = json.loads(raw) if isinstance(raw, str) else (raw or [])
        return {s["name"]: (str(s["type"]), bool(s.get("required", True))) for s in specs if "name" in s}
    if inputs is None or not inputs.has_input_names():
        return {}
    return {c.name: (c.type.name, bool(getattr(c, "required", True))) for c in inputs.inputs}


def _signatures(new: Contract, old_signature: Any, new_signature: Any, reasons: list[str], notes: list[str]) -> None:
    old_sig = signature_columns(old_signature)
    new_sig = signature_columns(new_signature)
    if new_sig is None:
        reasons.append("the new version has no MLflow signature to compare")
        return
    if old_sig is not None:
        for name, (typ, required) in new_sig.items():
            if name not in old_sig:
                if required:
                    reasons.append(f"signature: new required input {name} ({typ}) that old inputs do not have")
                else:
                    notes.append(f"signature: optional input {name} added")
            elif old_sig[name][0] != typ:
                reasons.append(f"signature: input {name} changed type from {old_sig[name][0]} to {typ}")
            elif required and not old_sig[name][1]:
                reasons.append(f"signature: input {name} became required")
        for name in old_sig:
            if name not in new_sig:
                notes.append(f"signature: input {name} no longer used by the new model")
    columns = {c.name: c for c in new.columns}
    for name, (typ, _required) in new_sig.items():
        col = columns.get(name)
        if col is None:
            reasons.append(f"signature input {name} is not defined by contract {new.name}@{new.version}")
        elif typ not in _SIGNATURE_TYPES[col.type]:
            reasons.append(f"signature input {name} is {typ} but contract {new.name} says {col.type}")
