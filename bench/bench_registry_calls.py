"""Registry calls per lifecycle command: store calls (what an MLflow server answers as HTTP requests) per operation.

Counts the top-level calls into MLflow's tracking and model-registry stores (sqlite here; against a server each
one is an HTTP request) for register, promote to staging, promote to production, approve and rollback, each
done as a CLI command does it (a fresh Registry). Prints the table; ``--write`` appends it to bench/RESULTS.md.
"""

from __future__ import annotations

import collections
import functools
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))


@contextmanager
def counting() -> Iterator[collections.Counter[str]]:
    """Count the top-level calls into both SqlAlchemy stores (calls a store makes to itself are not counted)."""
    from mlflow.store.model_registry.abstract_store import AbstractStore as AbstractRegistryStore
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.abstract_store import AbstractStore as AbstractTrackingStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    counts: collections.Counter[str] = collections.Counter()
    depth = [0]
    saved: list[tuple[type, str, Any]] = []

    def wrap(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def counted(*args: Any, **kwargs: Any) -> Any:
            if depth[0] == 0:
                counts[label] += 1
            depth[0] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1

        return counted

    for cls in (TrackingStore, RegistryStore, AbstractTrackingStore, AbstractRegistryStore):
        for attr, value in list(vars(cls).items()):
            if callable(value) and not attr.startswith("_") and not isinstance(value, (staticmethod, classmethod)):
                saved.append((cls, attr, value))
                setattr(cls, attr, wrap(value, attr))
    try:
        yield counts
    finally:
        for cls, attr, value in saved:
            setattr(cls, attr, value)


def main() -> None:
    from mlgate import api
    from mlgate.registry import Registry
    from mlgate.testing import QUIET_ENV, log_tiny_model, throwaway_settings, write_card

    os.environ.update(QUIET_ENV)
    folder = Path(tempfile.mkdtemp(prefix="mlgate-calls-"))
    settings = throwaway_settings(folder / "store")
    Registry.from_settings(settings)
    uri = log_tiny_model(settings)
    card = write_card(folder / "card.yaml")
    from tests.rollout_support import pass_gate

    def fresh() -> Registry:
        return Registry.from_settings(settings)  # as each CLI command does

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("register v1", lambda: api.register("m", uri, card, registry=fresh())),
        ("register v2", lambda: api.register("m", uri, card, registry=fresh())),
        ("gate on record (test helper)", lambda: [pass_gate(fresh(), "m", v, "staging", "production") for v in "12"]),
        ("promote v1 --to staging", lambda: api.promote("m", "1", "staging", registry=fresh())),
        ("promote v1 --to production", lambda: api.promote("m", "1", "production", registry=fresh())),
        ("promote v2 --to production", lambda: api.promote("m", "2", "production", registry=fresh())),
        ("rollback", lambda: api.rollback("m", reason="bench", registry=fresh())),
    ]
    rows = []
    for label, step in steps:
        with counting() as counts:
            step()
        rows.append((label, sum(counts.values()), counts))
    print(f"{'operation':32} {'store calls':>11}  top calls")
    for label, total, counts in rows:
        top = ", ".join(f"{k} {v}" for k, v in counts.most_common(None if "-v" in sys.argv else 6))
        print(f"{label:32} {total:>11}  {top}")


if __name__ == "__main__":
    main()
