"""Where contracts and data come from: the contract bound to a model version, and data files read by a contract."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.contracts.model import Contract, parse_contract_text
from mlgate.exceptions import ContractError, MlgateError
from mlgate.registry import keys

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.registry import Registry


def contract_of_version(registry: Registry, name: str, version: str | int) -> Contract | None:
    """The contract bound to a model version at register time, or None when none was bound.

    The stored file is checked against the content hash in the version's tags, so a contract
    edited behind mlgate's back is refused rather than silently used.
    """
    tags = registry.version(name, str(version)).tags or {}
    if keys.CONTRACT_NAME not in tags:
        return None
    artifact = keys.version_artifact(name, version, keys.CONTRACT_ARTIFACT)
    with tempfile.TemporaryDirectory(prefix="mlgate-contract-") as tmp:
        try:
            local = registry.download_version_artifact(name, str(version), artifact, tmp)
            text = Path(local).read_text()
        except (MlgateError, OSError) as exc:
            raise ContractError(
                f"{name} v{version} names contract {tags[keys.CONTRACT_NAME]}@{tags.get(keys.CONTRACT_VERSION)} "
                f"but its file {artifact} cannot be read: {exc}",
                "register the version again with --contract",
            ) from None
    contract = parse_contract_text(text, f"{name} v{version}:{artifact}")
    expected = tags.get(keys.CONTRACT_SHA256)
    if expected and expected != contract.sha256:
        raise ContractError(
            f"the contract stored with {name} v{version} does not match its recorded sha256",
            "the artifact was changed after registration; register the version again with --contract",
        )
    return contract


def read_data(path: str | Path, contract: Contract | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file; CSV text is parsed by the contract's types (see ``coerce``)."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet" or suffix == ".pq":
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt") or suffix == ".gz":
            text_columns = {c.name: "str" for c in contract.columns if c.type == "str"} if contract else {}
            df = pd.read_csv(path, dtype=text_columns or None)  # type: ignore[arg-type]
            return coerce(contract, df) if contract else df
    except (OSError, ValueError, ImportError) as exc:
        raise ContractError(f"cannot read data file {path}: {exc}", "check the path and the file format") from None
    raise ContractError(f"unsupported data file {path}", "give a .csv or .parquet file")


def coerce(contract: Contract, df: pd.DataFrame) -> pd.DataFrame:
    """Parse untyped input (CSV text, JSON records) by the contract's column types, keeping bad values visible.

    A numeric column whose values all parse becomes numeric (ints with nulls become ``Int64``); one with
    values that do not parse stays an object column of parsed numbers and the raw bad values, so validation
    flags exactly those rows instead of the whole column. Columns already of a matching type are untouched.
    """
    import pandas as pd

    from mlgate.contracts.checks import dtype_matches

    out = df.copy(deep=False)
    for column in contract.columns:
        if column.name not in out.columns:
            continue
        series = out[column.name]
        if dtype_matches(column, series.dtype):
            continue
        if column.numeric:
            out[column.name] = _numeric(series, column.type == "int", pd)
        elif column.type == "bool":
            out[column.name] = _booleans(series, pd)
        elif column.type == "str" and series.dtype == object and all(isinstance(v, str) for v in series.dropna()):
            out[column.name] = series.astype("str")
    return out


def _numeric(series: Any, integral: bool, pd: Any) -> Any:
    parsed = pd.to_numeric(series, errors="coerce")
    unparsed = parsed.isna() & series.notna()
    if getattr(series.dtype, "kind", "O") == "b" or (
        series.dtype == object and series.map(lambda v: isinstance(v, bool)).any()
    ):
        return series  # booleans are not numbers: leave them for validation to report
    if integral:
        whole = parsed.dropna()
        if not unparsed.any() and (whole == whole.round()).all():
            return parsed.astype("Int64")
        values = [raw if bad else _whole(num) for raw, bad, num in zip(series, unparsed, parsed, strict=True)]
        return pd.Series(values, index=series.index, dtype=object).where(series.notna(), None)
    if not unparsed.any():
        return parsed.astype("float64")
    return series.astype(object).where(unparsed, parsed.astype(object)).where(series.notna(), None)


def _booleans(series: Any, pd: Any) -> Any:
    words = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
    mapped = series.map(lambda v: words.get(str(v).strip().lower(), v) if isinstance(v, (str, int)) else v)
    if all(isinstance(v, bool) for v in mapped.dropna()):
        return mapped.astype("boolean")
    return mapped.astype(object)


def _whole(value: Any) -> Any:
    """A float that is a whole number as an int (nulls stay as they are)."""
    if value != value or not float(value).is_integer():
        return value
    return int(value)


def write_data(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as .parquet or .csv (by the file's suffix)."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
    except (OSError, ValueError, ImportError) as exc:
        raise ContractError(f"cannot write {path}: {exc}", "check the folder exists and is writable") from None
    return path
