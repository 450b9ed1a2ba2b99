"""The data contract as written: parse and check a contract YAML file into typed, immutable objects."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlgate.config.files import parse_yaml, read_text
from mlgate.exceptions import ContractError
from mlgate.registry import keys

TYPES = ("float", "int", "str", "bool")
POLICIES = ("reject_row", "reject_batch", "impute", "flag")
BACKFILL_STRATEGIES = ("recompute", "migrate_in_place", "forward_only")
EXTRA_COLUMNS = ("allow", "reject")
FLAGS_COLUMN = "_mlgate_flags"  # added to validated frames: why each passed-through row was flagged
REJECTED_COLUMN = "_mlgate_rejected"  # added to the rejected rows: why each was rejected
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_TOP_KEYS = ("name", "version", "description", "owner", "columns", "backfill", "defaults", "extra_columns")
_COLUMN_KEYS = ("name", "type", "nullable", "description", "range", "allowed", "on_null", "on_invalid")
_BACKFILL_KEYS = ("strategy", "description", "source", "command", "owner")


@dataclass(frozen=True)
class Policy:
    """What happens to a null or invalid value: reject the row or batch, impute ``value``, or flag it."""

    action: str
    value: Any = None

    def __str__(self) -> str:
        return f"impute {self.value!r}" if self.action == "impute" else self.action

    def to_yaml(self) -> Any:
        return {"impute": self.value} if self.action == "impute" else self.action


@dataclass(frozen=True)
class Column:
    """One column of the contract: its type, nullability, valid values and policies."""

    name: str
    type: str
    nullable: bool
    on_null: Policy
    on_invalid: Policy
    description: str = ""
    min: float | None = None
    max: float | None = None
    allowed: tuple[Any, ...] | None = None

    @property
    def numeric(self) -> bool:
        return self.type in ("float", "int")

    def valid_value(self, value: Any) -> bool:
        """Whether one (non-null) Python value satisfies the column's type, range and allowed values."""
        if not _is_of_type(value, self.type):
            return False
        if self.min is not None and value < self.min:
            return False
        if self.max is not None and value > self.max:
            return False
        return self.allowed is None or value in self.allowed


@dataclass(frozen=True)
class Backfill:
    """How historical data is recomputed when the contract changes."""

    strategy: str
    description: str
    source: str = ""
    command: str = ""
    owner: str = ""


@dataclass(frozen=True)
class Contract:
    """A versioned data contract: columns with types and policies, plus the backfill strategy."""

    name: str
    version: str
    columns: tuple[Column, ...]
    backfill: Backfill
    source_text: str
    description: str = ""
    owner: str = ""
    extra_columns: str = "allow"
    source: str = "<contract>"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source_text.encode()).hexdigest()

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_tags(self) -> dict[str, str]:
        """The model version tags that bind this contract (name, version, content hash)."""
        return {keys.CONTRACT_NAME: self.name, keys.CONTRACT_VERSION: self.version, keys.CONTRACT_SHA256: self.sha256}

    def summary(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


def _is_of_type(value: Any, type_: str) -> bool:
    if type_ == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if type_ == "int":
        return isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu")
    if type_ == "float":
        return isinstance(value, (int, float)) or (
            hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iuf"
        )
    return isinstance(value, str)


class _Problems:
    """Collects every problem of a contract file so the user sees them all at once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, key: str, text: str) -> None:
        self.items.append(f"{key}: {text}")

    def raise_if_any(self) -> None:
        if self.items:
            lines = "\n".join(f"  - {p}" for p in self.items)
            raise ContractError(
                f"data contract {self.source} has {len(self.items)} problem(s):\n{lines}",
                "fix the contract file; see README.md '## Data contracts' for the format",
            )


def _text(data: dict[str, Any], key: str, where: str, problems: _Problems, required: bool) -> str:
    value = data.get(key)
    if value is None:
        if required:
            problems.add(f"{where}{key}", "missing (required)")
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.add(f"{where}{key}", f"must be a non-empty text, got {value!r}")
        return ""
    return value.strip()


def _unknown(data: dict[str, Any], known: tuple[str, ...], where: str, problems: _Problems) -> None:
    extra = [str(k) for k in data if k not in known]
    if extra:
        problems.add(
            where.rstrip(".") or "(top level)", f"unknown key(s) {', '.join(extra)} (known: {', '.join(known)})"
        )


def _policy(raw: Any, key: str, problems: _Problems, stated: bool = False) -> Policy | None:
    if raw is None:
        if stated:
            problems.add(key, f"empty: write one of {', '.join(POLICIES)} or {{impute: VALUE}}")
        return None
    if isinstance(raw, str):
        if raw == "impute":
            problems.add(key, "impute needs the value to use: write `{impute: VALUE}`")
            return None
        if raw not in POLICIES:
            problems.add(key, f"unknown policy {raw!r} (known: {', '.join(POLICIES)})")
            return None
        return Policy(raw)
    if isinstance(raw, dict) and list(raw) == ["impute"]:
        return Policy("impute", raw["impute"])
    problems.add(key, f"must be one of {', '.join(POLICIES)} or {{impute: VALUE}}, got {raw!r}")
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _column(raw: Any, i: int, defaults: dict[str, Policy | None], problems: _Problems) -> Column | None:
    where = f"columns[{i}]"
    if not isinstance(raw, dict):
        problems.add(where, f"must be a mapping with name, type, nullable, ..., got {raw!r}")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(f"{where}.name", f"missing or not a text: {name!r}")
        return None
    where = f"columns[{i}] ({name})."
    _unknown(raw, _COLUMN_KEYS, where, problems)
    ok = True
    type_ = raw.get("type")
    if type_ not in TYPES:
        problems.add(f"{where}type", f"must be one of {', '.join(TYPES)}, got {type_!r}")
        ok = False
    nullable = raw.get("nullable")
    if not isinstance(nullable, bool):
        problems.add(f"{where}nullable", f"must be true or false (required), got {nullable!r}")
        ok = False
    description = _text(raw, "description", where, problems, required=False)
    lo = hi = None
    if "range" in raw:
        rng = raw["range"]
        if not isinstance(rng, dict) or not rng or set(rng) - {"min", "max"}:
            problems.add(f"{where}range", f"must be a mapping with min and/or max, got {rng!r}")
            ok = False
        else:
            lo, hi = rng.get("min"), rng.get("max")
            for bound, value in (("min", lo), ("max", hi)):
                if value is not None and not _number(value):
                    problems.add(f"{where}range.{bound}", f"must be a finite number, got {value!r}")
                    ok = False
            if ok and lo is not None and hi is not None and lo > hi:
                problems.add(f"{where}range", f"min {lo} is greater than max {hi}")
                ok = False
            if type_ in ("str", "bool"):
                problems.add(f"{where}range", f"a range needs a numeric type, the column is {type_}")
                ok = False
    allowed = None
    if "allowed" in raw:
        values = raw["allowed"]
        if not isinstance(values, list) or not values:
            problems.add(f"{where}allowed", f"must be a non-empty list of values, got {values!r}")
            ok = False
        elif type_ in TYPES and not all(v is not None and _is_of_type(v, type_) for v in values):
            problems.add(f"{where}allowed", f"every value must be of type {type_}, got {values!r}")
            ok = False
        else:
            allowed = tuple(dict.fromkeys(values))
    if raw.get("on_null") is not None and nullable is True:
        problems.add(
            f"{where}on_null", "a nullable column accepts nulls; remove on_null or set nullable: false to handle them"
        )
        ok = False
    policies: dict[str, Policy | None] = {}
    for key in ("on_null", "on_invalid"):
        policy = _policy(raw.get(key), f"{where}{key}", problems, stated=True) if key in raw else defaults.get(key)
        if key in raw and policy is None:
            ok = False
        if policy is None and not (key == "on_null" and nullable is True) and key not in raw:
            problems.add(f"{where}{key}", f"no behaviour stated: set {key} on the column or defaults.{key}")
            ok = False
        policies[key] = policy
    if not ok or type_ not in TYPES or not isinstance(nullable, bool):
        return None
    column = Column(
        name=name,
        type=str(type_),
        nullable=nullable,
        on_null=policies["on_null"] or Policy("reject_row"),
        on_invalid=policies["on_invalid"] or Policy("reject_row"),
        description=description,
        min=lo,
        max=hi,
        allowed=allowed,
    )
    for key in ("on_null", "on_invalid"):
        policy = getattr(column, key)
        if policy.action == "impute" and (policy.value is None or not column.valid_value(policy.value)):
            problems.add(f"{where}{key}", f"impute value {policy.value!r} is not itself valid for the column")
            return None
    return column


def _backfill(raw: Any, problems: _Problems) -> Backfill | None:
    if raw is None:
        problems.add(
            "backfill",
            "missing (required): say how historical data is recomputed when the contract changes "
            f"(strategy: {' | '.join(BACKFILL_STRATEGIES)}, description: ...)",
        )
        return None
    if not isinstance(raw, dict):
        problems.add("backfill", f"must be a mapping with strategy and description, got {raw!r}")
        return None
    _unknown(raw, _BACKFILL_KEYS, "backfill.", problems)
    strategy = raw.get("strategy")
    if strategy not in BACKFILL_STRATEGIES:
        problems.add("backfill.strategy", f"must be one of {', '.join(BACKFILL_STRATEGIES)}, got {strategy!r}")
    description = _text(raw, "description", "backfill.", problems, required=True)
    extras = {k: _text(raw, k, "backfill.", problems, required=False) for k in ("source", "command", "owner")}
    if strategy not in BACKFILL_STRATEGIES or not description:
        return None
    return Backfill(str(strategy), description, **extras)


def parse_contract(data: Any, source: str = "<contract>", source_text: str | None = None) -> Contract:
    """Check a contract's keys and build it; every problem is reported at once in one ContractError."""
    problems = _Problems(source)
    if not isinstance(data, dict):
        problems.add("(top level)", f"a contract must be a mapping of keys, got {type(data).__name__}")
        problems.raise_if_any()
    _unknown(data, _TOP_KEYS, "", problems)
    name = _text(data, "name", "", problems, required=True)
    version = data.get("version")
    if not isinstance(version, str) or not _SEMVER.match(version):
        problems.add("version", f'must be a semantic version text like "1.0.0" (quote it), got {version!r}')
    description = _text(data, "description", "", problems, required=False)
    owner = _text(data, "owner", "", problems, required=False)
    extra_columns = data.get("extra_columns", "allow")
    if extra_columns not in EXTRA_COLUMNS:
        problems.add("extra_columns", f"must be one of {', '.join(EXTRA_COLUMNS)}, got {extra_columns!r}")
    defaults: dict[str, Policy | None] = {}
    raw_defaults = data.get("defaults") or {}
    if not isinstance(raw_defaults, dict):
        problems.add("defaults", f"must be a mapping with on_null and/or on_invalid, got {raw_defaults!r}")
    else:
        _unknown(raw_defaults, ("on_null", "on_invalid"), "defaults.", problems)
        for key in ("on_null", "on_invalid"):
            defaults[key] = _policy(raw_defaults.get(key), f"defaults.{key}", problems)
            if defaults[key] is not None and defaults[key].action == "impute":  # type: ignore[union-attr]
                problems.add(f"defaults.{key}", "impute needs a value per column; set it on each column")
    columns: list[Column] = []
    raw_columns = data.get("columns")
    if not isinstance(raw_columns, list) or not raw_columns:
        problems.add("columns", f"must be a non-empty list of columns, got {raw_columns!r}")
    else:
        seen: set[str] = set()
        for i, raw in enumerate(raw_columns):
            column = _column(raw, i, defaults, problems)
            if column is None:
                continue
            if column.name in seen:
                problems.add(f"columns[{i}] ({column.name})", "duplicate column name")
            seen.add(column.name)
            columns.append(column)
    backfill = _backfill(data.get("backfill"), problems)
    problems.raise_if_any()
    assert backfill is not None and isinstance(version, str)
    text = source_text if source_text is not None else yaml.safe_dump(data, sort_keys=False)
    return Contract(
        name=name,
        version=version,
        columns=tuple(columns),
        backfill=backfill,
        source_text=text,
        description=description,
        owner=owner,
        extra_columns=str(extra_columns),
        source=source,
    )


def load_contract(path: str | Path) -> Contract:
    """Read and check a contract YAML file; a malformed one raises ContractError naming the file and key."""
    return parse_contract_text(read_text(path, error=ContractError), str(path))


def parse_contract_text(text: str, source: str = "<contract>") -> Contract:
    """Parse a contract from its YAML text (as stored in the registry)."""
    return parse_contract(parse_yaml(text, source, error=ContractError), source, source_text=text)
