"""Bulk history for the fleet benchmark: copies of an event run MLflow wrote, inserted straight into PostgreSQL.

99,000 events through the REST API take tens of minutes on a 2-core machine; this writes the same rows the
store would (every column of a run ``history.write`` made, new run ids, keys, times and event JSON in the
same tags) with ``execute_values``, placed before the model's first event so the recent history is real.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from mlgate.registry import Event, history


def bulk_copy_events(db_uri: str, model: str, count: int, batch: int = 5000) -> None:
    """Insert ``count`` rollout-analysis events into ``model``'s history experiment (a run there is the template)."""
    import psycopg2
    from psycopg2.extras import execute_values

    if count <= 0:
        return
    conn = psycopg2.connect(db_uri.replace("+psycopg2", ""))
    try:
        cur = conn.cursor()
        cur.execute("SELECT experiment_id FROM experiments WHERE name = %s", (history.experiment_name(model),))
        (experiment_id,) = cur.fetchone()
        cur.execute(
            "SELECT * FROM runs WHERE experiment_id = %s AND name = 'rollout-analysis' ORDER BY start_time LIMIT 1",
            (experiment_id,),
        )
        columns = [d[0] for d in cur.description]
        template = dict(zip(columns, cur.fetchone(), strict=True))
        cur.execute("SELECT key, value FROM tags WHERE run_uuid = %s", (template["run_uuid"],))
        template_tags = dict(cur.fetchall())
        cur.execute("SELECT min(start_time) FROM runs WHERE experiment_id = %s", (experiment_id,))
        (first_ms,) = cur.fetchone()
        start_ms = int(first_ms) - 1 - count * 10  # 10 ms apart, all before the first real event
        for lo in range(0, count, batch):
            runs, tags = [], []
            for i in range(lo, min(count, lo + batch)):
                run_id = uuid.uuid4().hex
                ms = start_ms + i * 10
                ns = ms * 1_000_000
                at = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
                event = Event(action="rollout-analysis", model=model, to_version="1", result="wait", at=at,
                              reason=f"bulk {i}", actor="bench")  # fmt: skip
                row: dict[str, Any] = dict(template, run_uuid=run_id, start_time=ms, end_time=ms)
                row["artifact_uri"] = str(template["artifact_uri"]).replace(template["run_uuid"], run_id)
                runs.append(tuple(row[c] for c in columns))
                values = dict(template_tags)
                values.update({
                    history.KEY_TAG: f"{ns:020d}.{event.op_id}.{event.result}", history.OP_TAG: event.op_id,
                    history.JSON_TAG: event.to_json(), history.ACTION_TAG: event.action, history.VERSION_TAG: "1",
                })  # fmt: skip
                tags.extend((k, v, run_id) for k, v in values.items())
            execute_values(cur, f"INSERT INTO runs ({', '.join(columns)}) VALUES %s", runs, page_size=1000)
            execute_values(cur, "INSERT INTO tags (key, value, run_uuid) VALUES %s", tags, page_size=5000)
            conn.commit()
        cur.execute("ANALYZE runs; ANALYZE tags")
        conn.commit()
    finally:
        conn.close()


def bulk_old_tags(db_uri: str, model: str, count: int, batch: int = 5000) -> None:
    """Insert ``count`` events as tags of the registered model, in the format of mlgate before `mlgate migrate`."""
    import psycopg2
    from psycopg2.extras import execute_values

    if count <= 0:
        return
    conn = psycopg2.connect(db_uri.replace("+psycopg2", ""))
    try:
        cur = conn.cursor()
        start_ns = (int(datetime.now(UTC).timestamp()) - 2 * count) * 10**9
        for lo in range(0, count, batch):
            rows = []
            for i in range(lo, min(count, lo + batch)):
                ns = start_ns + i * 10**9
                at = datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")
                event = Event(action="rollout-analysis", model=model, to_version="1", result="wait", at=at,
                              reason=f"bulk {i}", actor="bench")  # fmt: skip
                rows.append((f"mlgate.event.{ns:020d}.{event.op_id}.{event.result}", event.to_json(), model))
            execute_values(cur, "INSERT INTO registered_model_tags (key, value, name) VALUES %s", rows)
            conn.commit()
    finally:
        conn.close()


def count_runs(db_uri: str, model: str) -> int:
    """How many events the model's history experiment holds (counted in the store)."""
    import psycopg2

    conn = psycopg2.connect(db_uri.replace("+psycopg2", ""))
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT count(*) FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id WHERE e.name = %s",
            (history.experiment_name(model),),
        )
        return int(cur.fetchone()[0])
    finally:
        conn.close()
