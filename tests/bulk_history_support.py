"""A long history written cheaply: event runs copied in bulk into a sqlite registry, rows the store itself would write.

Like bench/fleet_store.py does for PostgreSQL: a run ``history.write`` made is the template (every column
and tag), each copy gets a new run id, time, key and event JSON. The events are placed before the
model's first real event, so the recent history is real and the past is long.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from mlgate.registry import Event, history

CYCLE = 10  # events per rollout cycle below


def rollout_cycles(model: str, count: int, production: str = "1", candidate: str = "2") -> Iterator[Event]:
    """``count`` events: canaries of ``candidate`` at 10 % then 50 % with analyses between, each rolled back.

    Every cycle moves each stage again (the rollback settles production, canary and the last known good),
    so the state at any moment is settled by the operations of the last cycle before it."""
    for i in range(count):
        step = i % CYCLE
        base = {"model": model, "from_version": production, "to_version": candidate, "actor": "bulk"}
        if step == 0:
            yield Event(action="rollout-start", details={"step": 1, "of": 2, "weight": 10.0}, **base)
        elif step == 4:
            yield Event(action="rollout-step", details={"step": 2, "of": 2, "weight": 50.0}, **base)
        elif step == CYCLE - 1:
            base.update(from_version=candidate, to_version=production)
            yield Event(action="rollback", reason=f"cycle {i // CYCLE}", details={"last_known_good": None}, **base)
        else:
            yield Event(
                action="rollout-analysis", result="wait", details={"weight": 10.0 * (1 + 4 * (step > 4))}, **base
            )


def bulk_insert(db_path: str, model: str, events: list[Event], spacing_ms: int = 1000) -> tuple[float, float]:
    """Insert ``events`` (oldest first) as history runs ``spacing_ms`` apart, ending before the model's first
    recorded event. Returns the (first, last) event times, epoch seconds."""
    conn = sqlite3.connect(db_path)
    try:
        cur = conn.cursor()
        (experiment_id,) = cur.execute(
            "SELECT experiment_id FROM experiments WHERE name = ?", (history.experiment_name(model),)
        ).fetchone()
        cur.execute("SELECT * FROM runs WHERE experiment_id = ? ORDER BY start_time LIMIT 1", (experiment_id,))
        columns = [d[0] for d in cur.description]
        template = dict(zip(columns, cur.fetchone(), strict=True))
        template_tags = dict(cur.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (template["run_uuid"],)))
        first_ms = int(template["start_time"]) - spacing_ms * (len(events) + 1)
        runs, tags = [], []
        for i, event in enumerate(events):
            run_id, ms = uuid.uuid4().hex, first_ms + i * spacing_ms
            event.at = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
            row = dict(template, run_uuid=run_id, start_time=ms, end_time=ms, name=event.action)
            row["artifact_uri"] = str(template["artifact_uri"]).replace(template["run_uuid"], run_id)
            runs.append(tuple(row[c] for c in columns))
            values = dict(template_tags)
            values.update({
                history.KEY_TAG: f"{ms * 1_000_000:020d}.{event.op_id}.{event.result}", history.OP_TAG: event.op_id,
                history.JSON_TAG: event.to_json(), history.ACTION_TAG: event.action,
                history.VERSION_TAG: str(event.to_version or ""), "mlflow.runName": event.action,
            })  # fmt: skip
            tags.extend((k, v, run_id) for k, v in values.items())
        marks = ", ".join("?" for _ in columns)
        cur.executemany(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({marks})", runs)
        cur.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
        conn.commit()
    finally:
        conn.close()
    return first_ms / 1000.0, (first_ms + (len(events) - 1) * spacing_ms) / 1000.0


class CountingSearch:
    """Counts the history runs read through the registry client's ``search_runs`` (calls and runs returned)."""

    def __init__(self, client: object) -> None:
        self.client, self.calls, self.runs = client, 0, 0
        self._search = client.search_runs  # type: ignore[attr-defined]

    def __enter__(self) -> CountingSearch:
        def counted(*args: object, **kwargs: object) -> object:
            page = self._search(*args, **kwargs)
            self.calls += 1
            self.runs += len(page)
            return page

        counted.__name__ = "search_runs"  # ReadOnce tells reads from writes by name
        self.client.search_runs = counted  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.client.search_runs  # type: ignore[attr-defined]
