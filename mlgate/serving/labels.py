"""Ground truth that arrives after the answer: labels keyed by the gateway's request id, beside the prediction record.

    store = LabelStore(default_store_url(settings))
    receipt = store.add(parse_labels([{"request_id": "9f..", "label": 1}]))
    receipt.accepted, receipt.unknown_request_ids, receipt.problems     # nothing is dropped silently
    store.joined("fraud", version="3", since=..., until=...)          # recorded rows with their label

A label is a JSON scalar (a class or a number) for one request id and, for a request that
predicted several rows, the row's position in it (``row``, default 0). A later label for the
same request row replaces the earlier one (counted as ``replaced``). Labels for request ids the
prediction record does not hold (trimmed, never served, mistyped) are kept and counted as
``unknown_request_ids``: they join once the id is known, and nothing a caller sent is lost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from mlgate.serving.record import _TABLE as PREDICTIONS
from mlgate.serving.record import PredictionStore, create_tables

_META = sa.MetaData()
LABELS = sa.Table(
    "mlgate_labels",
    _META,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("row", sa.Integer, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),  # JSON scalar
    sa.Column("received", sa.DateTime(), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
)
MAX_ID = 64


@dataclass(frozen=True)
class Label:
    """One label for one predicted row."""

    request_id: str
    label: Any
    row: int = 0


@dataclass
class Receipt:
    """What became of a batch of labels: every item is accepted or named in ``problems``."""

    received: int = 0
    accepted: int = 0
    replaced: int = 0
    unknown_request_ids: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)  # {"index": i, "error": "..."}

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "replaced": self.replaced,
            "unknown_request_ids": self.unknown_request_ids,
            "rejected": len(self.problems),
            "problems": self.problems[:100],
        }


def parse_labels(items: Iterable[Any]) -> tuple[list[Label], list[dict[str, Any]]]:
    """Labels from mappings with ``request_id``, ``label`` and optional ``row``; each bad item named by index."""
    labels: list[Label] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        error = _problem(item)
        if error:
            problems.append({"index": index, "error": error})
            continue
        value = item["label"]
        labels.append(
            Label(str(item["request_id"]), value.item() if hasattr(value, "item") else value, int(item.get("row") or 0))
        )
    return labels, problems


def _problem(item: Any) -> str | None:
    if not isinstance(item, Mapping):
        return "not an object with request_id and label"
    request_id, label, row = item.get("request_id"), item.get("label"), item.get("row", 0)
    if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_ID:
        return (
            f"request_id must be the X-Mlgate-Request-Id a prediction answered with (a string of 1-{MAX_ID} characters)"
        )
    if label is None or (isinstance(label, float) and math.isnan(label)):
        return "label is missing or null"
    if hasattr(label, "item"):
        label = label.item()
    if not isinstance(label, str | int | float | bool):
        return f"label must be a class or a number, not {type(label).__name__}"
    if row is not None and (isinstance(row, bool) or not isinstance(row, int) or row < 0):
        return "row must be a non-negative integer (the row's position in the request)"
    return None


class LabelStore:
    """Labels in the prediction record's database (table ``mlgate_labels``)."""

    def __init__(self, url: str) -> None:
        self.predictions = PredictionStore(url)  # creates the record's table and shares its engine settings
        self.engine = self.predictions.engine
        create_tables(_META, self.engine)  # several workers may start on a new store at once

    def add(self, labels: list[Label], problems: list[dict[str, Any]] | None = None, source: str = "api") -> Receipt:
        """Store ``labels`` (a later label for the same request row replaces the earlier one)."""
        import json

        receipt = Receipt(received=len(labels) + len(problems or []), problems=list(problems or []))
        if not labels:
            return receipt
        latest = {(x.request_id, x.row): x for x in labels}  # the last of duplicates in one batch wins
        ids = sorted({key[0] for key in latest})
        now = datetime.now(UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            known, existing = set(), set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                known |= set(
                    conn.execute(
                        sa.select(PREDICTIONS.c.request_id).where(PREDICTIONS.c.request_id.in_(chunk))
                    ).scalars()
                )
                existing |= {
                    tuple(r)
                    for r in conn.execute(
                        sa.select(LABELS.c.request_id, LABELS.c.row).where(LABELS.c.request_id.in_(chunk))
                    )
                }
            replace = [key for key in latest if key in existing]
            for request_id, row in replace:
                conn.execute(LABELS.delete().where(LABELS.c.request_id == request_id, LABELS.c.row == row))
            rows = [
                {
                    "request_id": x.request_id,
                    "row": x.row,
                    "label": json.dumps(x.label),
                    "received": now,
                    "source": source,
                }
                for x in latest.values()
            ]
            conn.execute(LABELS.insert(), rows)
        receipt.accepted = len(labels)
        receipt.replaced = len(replace) + (len(labels) - len(latest))
        receipt.unknown_request_ids = sum(1 for x in labels if x.request_id not in known)
        return receipt

    def labels(self, request_ids: Iterable[str]) -> pd.DataFrame:
        """The labels of ``request_ids``: columns request_id, row, label, received."""
        import json

        ids = sorted(set(request_ids))
        found = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                query = sa.select(LABELS.c.request_id, LABELS.c.row, LABELS.c.label, LABELS.c.received).where(
                    LABELS.c.request_id.in_(ids[start : start + 500])
                )
                found += [dict(r._mapping) for r in conn.execute(query)]
        frame = pd.DataFrame(found, columns=["request_id", "row", "label", "received"])
        frame["label"] = [json.loads(v) for v in frame["label"]]
        return frame

    def joined(self, window: pd.DataFrame) -> pd.DataFrame:
        """``window`` (recorded rows, oldest first, from PredictionStore.window) with ``label`` where one arrived."""
        out = window.copy()
        if out.empty:
            out["label"] = pd.Series(dtype=object)
            return out
        out["row"] = out.groupby(["request_id", "version", "route"], sort=False).cumcount()
        found = self.labels(out["request_id"].astype(str))
        merged = out.merge(found[["request_id", "row", "label"]], on=["request_id", "row"], how="left")
        return merged.drop(columns=["row"])

    def close(self) -> None:
        self.predictions.close()
