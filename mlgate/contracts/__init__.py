"""Versioned data contracts: load, validate data (Great Expectations at ingestion, a fast path at inference), compare.

Public API::

    load_contract(path) -> Contract            parse_contract(data, source) -> Contract
    validate(contract, df) -> ValidationReport  (Great Expectations 1.x)
    fast_validate(contract, df) -> ValidationReport  (vectorised pandas/numpy, same verdicts)
    compatible(old, new, old_signature=None, new_signature=None) -> Compatibility
    contract_of_version(registry, name, version) -> Contract | None
    read_data(path, contract) / coerce(contract, df)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlgate.contracts import compat, store
from mlgate.contracts.compat import Compatibility
from mlgate.contracts.model import (
    BACKFILL_STRATEGIES,
    FLAGS_COLUMN,
    POLICIES,
    REJECTED_COLUMN,
    TYPES,
    Backfill,
    Column,
    Contract,
    Policy,
    load_contract,
    parse_contract,
    parse_contract_text,
)
from mlgate.contracts.store import contract_of_version
from mlgate.extras import require_extra

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from mlgate.contracts.report import ValidationReport

__all__ = [
    "BACKFILL_STRATEGIES",
    "FLAGS_COLUMN",
    "POLICIES",
    "REJECTED_COLUMN",
    "TYPES",
    "Backfill",
    "Column",
    "Contract",
    "Policy",
    "coerce",
    "compatible",
    "contract_of_version",
    "fast_validate",
    "load_contract",
    "parse_contract",
    "parse_contract_text",
    "read_data",
    "validate",
    "write_data",
]


def validate(contract: Contract, df: pd.DataFrame) -> ValidationReport:
    """Validate ``df`` with the contract compiled into a Great Expectations suite, then apply its policies."""
    require_extra("contracts", "validating data with Great Expectations")
    from mlgate.contracts.gx import gx_validate

    return gx_validate(contract, df)


def fast_validate(contract: Contract, df: pd.DataFrame) -> ValidationReport:
    """Validate ``df`` without Great Expectations (for inference); same verdicts as ``validate``."""
    from mlgate.contracts.fast import fast_validate as run

    return run(contract, df)


def compatible(
    old: Contract, new: Contract, old_signature: object = None, new_signature: object = None
) -> Compatibility:
    """Whether ``new`` (contract, and MLflow signature if given) can serve the inputs ``old`` accepted, with reasons."""
    return compat.compatible(old, new, old_signature, new_signature)


def read_data(path: str | Path, contract: Contract | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file (CSV parsed by the contract's types)."""
    return store.read_data(path, contract)


def write_data(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as .parquet or .csv (by the file's suffix)."""
    return store.write_data(df, path)


def coerce(contract: Contract, df: pd.DataFrame) -> pd.DataFrame:
    """Parse untyped input (CSV text, JSON records) by the contract's column types, keeping bad values visible."""
    return store.coerce(contract, df)
