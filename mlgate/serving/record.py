"""A bounded record of served inputs and predictions per model version, in SQL (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

if TYPE_CHECKING:
    from mlgate.config import Settings

log = logging.getLogger("mlgate.serving")

TABLE = "mlgate_predictions"
COLUMNS = ["ts", "model", "version", "route", "request_key", "status", "latency_ms", "prediction"]
_METADATA = sa.MetaData()
_TABLE = sa.Table(
    TABLE,
    _METADATA,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("ts", sa.DateTime(), nullable=False),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("route", sa.String(16), nullable=False),
    sa.Column("request_id", sa.String(32), nullable=False),
    sa.Column("request_key", sa.String(255)),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("prediction", sa.Text),
    sa.Column("inputs", sa.Text),
    sa.Index("ix_mlgate_predictions_mv", "model", "version", "id"),
    sa.Index("ix_mlgate_predictions_ts", "model", "ts"),
)


def default_store_url(settings: Settings) -> str:
    """The configured prediction store, else a SQLite file beside a SQLite tracking store or in .mlgate/."""
    configured = getattr(settings, "prediction_store_url", None)
    if configured:
        return str(configured)
    if settings.tracking_uri.startswith("sqlite:///"):
        folder = Path(settings.tracking_uri[len("sqlite:///") :]).parent
    else:
        folder = Path.cwd() / ".mlgate"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'predictions.db'}"


def create_tables(metadata: sa.MetaData, engine: sa.Engine) -> None:
    """Create the missing tables of ``metadata``; the workers of one server starting on a new store race to
    create them, and the loser of that race finds them made (its error is not one)."""
    for attempt in range(3):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError):
            if attempt == 2:
                raise
            time.sleep(0.2)


@dataclass(frozen=True)
class Served:
    """One answered request, as the gateway hands it to the recorder."""

    ts: float
    model: str
    version: str
    route: str
    request_id: str
    request_key: str | None
    status: int
    latency_ms: float
    inputs: pd.DataFrame | tuple[list[str], Any] | None = None  # a frame, or (columns, rows of values)
    predictions: Any = None


class PredictionStore:
    """Inputs and predictions per model version, at most ``retention_rows`` rows per version."""

    def __init__(self, url: str, retention_rows: int = 100_000) -> None:
        self.url = url
        self.retention_rows = int(retention_rows)
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        args = {"timeout": 30} if url.startswith("sqlite") else {}
        self.engine = sa.create_engine(url, connect_args=args, pool_pre_ping=True)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_wal)
        create_tables(_METADATA, self.engine)

    def record(
        self,
        model: str,
        version: str,
        route: str,
        status: int,
        latency_ms: float,
        inputs: pd.DataFrame | None = None,
        predictions: Any = None,
        request_key: str | None = None,
        ts: datetime | float | None = None,
        request_id: str | None = None,
    ) -> None:
        """Record one request synchronously (the gateway batches through ``record_many``)."""
        if isinstance(ts, datetime):
            ts = ts.timestamp()
        served = Served(
            ts if ts is not None else time.time(),
            model,
            str(version),
            route,
            request_id or _request_id(),
            request_key,
            int(status),
            float(latency_ms),
            inputs,
            predictions,
        )
        self.record_many([served])

    def record_many(self, items: Iterable[Served]) -> int:
        """Write many answered requests in one transaction, then trim each touched version; rows written."""
        rows: list[dict[str, Any]] = []
        touched: set[tuple[str, str]] = set()
        for item in items:
            rows.extend(_rows(item))
            touched.add((item.model, item.version))
        if not rows:
            return 0
        with self.engine.begin() as conn:
            conn.execute(_TABLE.insert(), rows)
            for model, version in touched:
                self._trim(conn, model, version)
        return len(rows)

    def _trim(self, conn: sa.Connection, model: str, version: str) -> None:
        t = _TABLE
        newest_kept = (
            sa.select(t.c.id)
            .where(t.c.model == model, t.c.version == version)
            .order_by(t.c.id.desc())
            .offset(self.retention_rows - 1)
            .limit(1)
            .scalar_subquery()
        )
        conn.execute(t.delete().where(t.c.model == model, t.c.version == version, t.c.id < newest_kept))

    def window(
        self,
        model: str,
        version: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        route: str | None = None,
        inputs: bool = True,
    ) -> pd.DataFrame:
        """Recorded rows (one per predicted input row), oldest first, with one column per input feature
        (a shadow's rows carry the inputs of the caller's answer to the same request).

        ``inputs=False`` leaves the input features out: decoding them is most of the cost of a
        large window, and canary analysis needs only status, latency and predictions.
        """
        t = _TABLE
        columns = [c for c in t.c if inputs or c.name != "inputs"]
        query = sa.select(*columns).where(t.c.model == model).order_by(t.c.id)
        if version is not None:
            query = query.where(t.c.version == str(version))
        if route is not None:
            query = query.where(t.c.route == route)
        if since is not None:
            query = query.where(t.c.ts >= _naive_utc(since))
        if until is not None:
            query = query.where(t.c.ts < _naive_utc(until))
        with self.engine.connect() as conn:
            result = conn.execute(query)
            raw = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
            if inputs and not raw.empty:
                _caller_inputs(conn, model, raw)
        if raw.empty:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in [*COLUMNS, "request_id"]})
        frame = raw[[*COLUMNS, "request_id"]].copy()
        frame["ts"] = pd.to_datetime(frame["ts"]).dt.tz_localize(UTC)
        frame["prediction"] = pd.Series(
            [json.loads(p) if isinstance(p, str) else None for p in raw["prediction"]], index=frame.index, dtype=object
        )
        if not inputs:
            return frame.reset_index(drop=True)
        rows = [json.loads(i) if isinstance(i, str) else {} for i in raw["inputs"]]
        features = pd.DataFrame.from_records(rows, index=frame.index)
        for column in features.columns:
            if column not in frame.columns:
                frame[column] = features[column]
        return frame.reset_index(drop=True)

    def answers(self, request_id: str, model: str | None = None) -> list[dict[str, Any]]:
        """Each recorded answer to one request (the caller's, and a shadow's), oldest first: model, version,
        route, status, latency_ms, ts (epoch seconds) and rows (input rows it predicted)."""
        t = _TABLE
        cols = (t.c.model, t.c.version, t.c.route, t.c.status, t.c.latency_ms, t.c.ts)
        query = sa.select(*cols, sa.func.count().label("rows")).where(t.c.request_id == request_id)
        if model is not None:
            query = query.where(t.c.model == model)
        query = query.group_by(*cols).order_by(sa.func.min(t.c.id))
        with self.engine.connect() as conn:
            found = [dict(row._mapping) for row in conn.execute(query)]
        return [{**row, "ts": row["ts"].replace(tzinfo=UTC).timestamp()} for row in found]

    def close(self) -> None:
        self.engine.dispose()


def _caller_inputs(conn: sa.Connection, model: str, raw: pd.DataFrame) -> None:
    """Give a shadow's rows the inputs of the caller's answer to the same request (a shadow records none)."""
    t = _TABLE
    bare = ((raw["route"] == "shadow") & (raw["inputs"].isna() | (raw["inputs"] == "{}"))).to_numpy()
    if not bare.any():
        return
    ids = raw.loc[bare, "request_id"].unique().tolist()
    found: dict[tuple[str, int], str] = {}
    for at in range(0, len(ids), 500):  # bounded IN lists
        query = (
            sa.select(t.c.request_id, t.c.inputs)
            .where(t.c.model == model, t.c.route != "shadow", t.c.request_id.in_(ids[at : at + 500]))
            .order_by(t.c.id)
        )
        seen: dict[str, int] = {}
        for request_id, inputs in conn.execute(query):
            row = seen.get(request_id, 0)
            seen[request_id] = row + 1
            found.setdefault((request_id, row), inputs)
    rows = raw.loc[bare].groupby(["request_id", "version"], sort=False).cumcount()
    raw.loc[bare, "inputs"] = [found.get((r, int(n))) for r, n in zip(raw.loc[bare, "request_id"], rows, strict=True)]


def _rows(item: Served) -> list[dict[str, Any]]:
    base = {
        "ts": datetime.fromtimestamp(item.ts, UTC).replace(tzinfo=None),
        "model": item.model,
        "version": item.version,
        "route": item.route,
        "request_id": item.request_id,
        "request_key": item.request_key,
        "status": item.status,
        "latency_ms": item.latency_ms,
    }
    if item.inputs is None or item.status >= 400:
        return [{**base, "prediction": None, "inputs": None}]
    if isinstance(item.inputs, tuple):
        columns, values = item.inputs
        values = values.tolist() if hasattr(values, "tolist") else values
    else:
        columns = [str(c) for c in item.inputs.columns]
        values = item.inputs.to_numpy().tolist()  # plain Python values in one pass (to_dict is ~10x slower)
    preds = _per_row(item.predictions, len(values))
    dumps = json.dumps
    return [
        {
            **base,
            "inputs": dumps(dict(zip(columns, row, strict=True)), default=_plain),
            "prediction": dumps(pred, default=_plain),
        }
        for row, pred in zip(values, preds, strict=False)
    ]


def _per_row(predictions: Any, n: int) -> list[Any]:
    if isinstance(predictions, pd.DataFrame):
        if predictions.shape[1] == 1:
            return list(predictions.iloc[:, 0].tolist())
        return list(predictions.to_dict(orient="records"))
    values = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions or [])
    return values if len(values) == n else [values] * n


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.isoformat()
    return str(value)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _request_id() -> str:
    import uuid

    return uuid.uuid4().hex


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
