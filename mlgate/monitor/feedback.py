"""Labels into the record from files and from a SQL source: ``mlgate feedback load`` and monitor.yaml's ``labels``.

    load_file(settings, "labels.csv")          # columns request_id, label (and row): a Receipt
    monitor.yaml:
      labels: {kind: sql, url: postgresql://..., query: "select request_id, label from chargebacks"}

Both write through mlgate.serving.labels.LabelStore, as the gateway's POST /feedback does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgate.exceptions import ConfigError, UsageError
from mlgate.serving.labels import LabelStore, Receipt, parse_labels
from mlgate.serving.record import default_store_url

SQL_KEYS = ("kind", "url", "query")


def store_url(settings: Any, config: dict[str, Any]) -> str:
    """The prediction record a monitoring pass reads (monitor.yaml's store_url, else the gateway's default)."""
    return str(config.get("store_url") or default_store_url(settings))


def load_file(
    settings: Any, config: dict[str, Any], path: str | Path, request_id: str = "request_id", label: str = "label",
    row: str | None = "row",
) -> Receipt:  # fmt: skip
    """Labels from a CSV or Parquet file with the request id and label columns (``row`` when present)."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"label file {file} does not exist", "pass a CSV or Parquet file of request_id, label")
    suffix = file.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(file)
    elif suffix in (".csv", ".txt"):
        frame = pd.read_csv(file, dtype={request_id: str})
    else:
        raise UsageError(f"label file {file} is neither CSV nor Parquet", "convert it to .csv or .parquet")
    return _store(settings, config, frame, f"file {file}", request_id, label, row, source="file")


def load_sql(settings: Any, config: dict[str, Any]) -> Receipt | None:
    """Labels from monitor.yaml's ``labels`` SQL source (None when there is none); run at every pass."""
    spec = config.get("labels")
    if not spec:
        return None
    if spec.get("kind") != "sql":
        raise ConfigError(f"monitor.yaml labels.kind: {spec.get('kind')!r}", "use kind: sql with url and query")
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(str(spec["url"]))
    try:
        with engine.connect() as conn:
            frame = pd.read_sql(sa.text(str(spec["query"])), conn)
    except sa.exc.SQLAlchemyError as exc:
        raise ConfigError(
            f"monitor.yaml labels: the query failed: {str(exc).splitlines()[0][:200]}",
            "check labels.url and labels.query (it must return request_id and label columns)",
        ) from None
    finally:
        engine.dispose()
    return _store(settings, config, frame, "monitor.yaml labels query", "request_id", "label", "row", source="sql")


def _store(
    settings: Any, config: dict[str, Any], frame: Any, where: str, request_id: str, label: str, row: str | None,
    source: str,
) -> Receipt:  # fmt: skip
    missing = [c for c in (request_id, label) if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{where} has no column {', '.join(map(repr, missing))} (it has {', '.join(map(str, frame.columns[:10]))})",
            "name the columns with --request-id-column and --label-column",
        )
    columns = {request_id: "request_id", label: "label", **({row: "row"} if row and row in frame.columns else {})}
    items = frame[list(columns)].rename(columns=columns)
    records = [
        {k: (None if v != v else v) for k, v in item.items()}  # NaN (a missing label) -> None: counted, not stored
        for item in items.to_dict(orient="records")
    ]
    for item in records:
        if isinstance(item.get("request_id"), float | int):
            item["request_id"] = str(item["request_id"])
        if "row" in item and isinstance(item["row"], float) and item["row"].is_integer():
            item["row"] = int(item["row"])
    labels, problems = parse_labels(records)
    store = LabelStore(store_url(settings, config))
    try:
        return store.add(labels, problems, source=source)
    finally:
        store.close()
