"""Helpers for the canary and rollback tests: pass a gate on record, register versions, feed the gateway's record."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlgate import api
from mlgate.gate import policy_hash
from mlgate.registry import Registry, keys, utcnow
from mlgate.serving.record import PredictionStore, Served
from mlgate.testing import write_card


class FakeClock:
    """Time that moves only when the code under test sleeps, so a 60 s bake or a 10-minute watch takes no real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def pass_gate(registry: Registry, name: str, version: str, *stages: str) -> None:
    """Record a passing gate report for ``stages`` under the policy in force (what `mlgate check` stores)."""
    for stage in stages:
        registry.set_version_tag(name, version, keys.gate_tag(stage), "passed")
        registry.set_version_tag(name, version, keys.gate_policy_hash_tag(stage), policy_hash(registry.settings, name))
        registry.set_version_tag(name, version, keys.gate_time_tag(stage), utcnow())


def register(registry: Registry, name: str, model_uri: str, folder: Path, **card: Any) -> str:
    """Register one version with a model card (overrides in ``card``) and return its version."""
    path = write_card(folder / f"card-{len(list(folder.glob('card-*')))}.yaml", **card)
    return api.register(name, model_uri, path, registry=registry).version


def production_and_candidate(
    registry: Registry, name: str, model_uri: str, folder: Path, **card: Any
) -> tuple[str, str]:
    """v1 in production (gated, smoke-tested) and v2 registered with a passing canary gate."""
    v1 = register(registry, name, model_uri, folder)
    pass_gate(registry, name, v1, "production")
    api.promote(name, v1, "production", registry=registry)
    v2 = register(registry, name, model_uri, folder, **card)
    pass_gate(registry, name, v2, "canary", "production")
    return v1, v2


def traffic(
    model: str,
    version: str,
    route: str,
    start: float,
    seconds: float,
    count: int,
    error_every: int = 0,
    latency_ms: float = 5.0,
    predictions: Iterable[Any] | None = None,
) -> list[Served]:
    """``count`` answered requests spread over ``seconds`` from ``start``; every ``error_every``-th one a 500."""
    preds = list(predictions) if predictions is not None else [i % 3 for i in range(count)]
    rows = []
    for i in range(count):
        failed = bool(error_every) and i % error_every == 0
        rows.append(
            Served(
                ts=start + seconds * i / max(count, 1),
                model=model,
                version=version,
                route=route,
                request_id=f"{route}-{version}-{start}-{i}",
                request_key=None,
                status=500 if failed else 200,
                latency_ms=latency_ms,
                inputs=None if failed else pd.DataFrame([{"sepal_length": 5.0}]),
                predictions=None if failed else [preds[i % len(preds)]],
            )
        )
    return rows


def store(settings: Any) -> PredictionStore:
    """The prediction record the CLI and api read for these settings."""
    from mlgate.serving.record import default_store_url

    return PredictionStore(default_store_url(settings))


WEDNESDAY_10H = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SATURDAY_3H = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
OWNER = "ml-platform@example.com"  # the owner in mlgate.testing.card_dict


def write_owners(settings: Any) -> None:
    """An owners.yaml for the card's owner: alice in business hours, night-oncall out of hours."""
    assert settings.config_dir is not None
    owners = {
        "timezone": "UTC",
        "hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"},
        "targets": {
            "chat": {"kind": "slack", "url": "http://127.0.0.1:9/chat"},
            "pager": {"kind": "json", "url": "http://127.0.0.1:9/page"},
        },
        "owners": {
            OWNER: {
                "business_hours": {"person": "alice@example.com", "targets": ["chat"]},
                "out_of_hours": {"person": "night-oncall", "targets": ["pager"]},
                "escalation": {"after": "30m", "person": "head-of-ml@example.com", "targets": ["pager"]},
            }
        },
    }
    (settings.config_dir / "owners.yaml").write_text(yaml.safe_dump(owners))


IRREVERSIBLE = {"name": "drop-legacy-table", "reversible": False, "description": "drops features_v1"}
