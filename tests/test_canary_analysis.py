"""Canary analysis decisions at their thresholds (just inside passes, just outside aborts), PSI, KPI, policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from mlgate.exceptions import PolicyError
from mlgate.release.rollout.analysis import FAIL, PASS, WAIT, analyze
from mlgate.release.rollout.policy import (
    KpiSpec,
    RolloutPolicy,
    Thresholds,
    parse_rollout_policy,
    parse_steps,
)
from mlgate.stats.drift import sample_psi


def frame(route: str, n: int, errors: int = 0, latency: float = 10.0, preds: list[int] | None = None) -> pd.DataFrame:
    preds = preds if preds is not None else [i % 3 for i in range(n)]
    return pd.DataFrame(
        {
            "ts": pd.Timestamp.now(tz="UTC"),
            "model": "m",
            "version": "1" if route == "production" else "2",
            "route": route,
            "request_id": [f"{route}{i}" for i in range(n)],
            "status": [500 if i < errors else 200 for i in range(n)],
            "latency_ms": [latency] * n,
            "prediction": preds[:n],
        }
    )


def policy(**thresholds: float) -> RolloutPolicy:
    return RolloutPolicy(min_requests=100, thresholds=Thresholds(**thresholds))  # type: ignore[arg-type]


def test_error_rate_just_inside_passes_and_just_outside_aborts() -> None:
    prod = frame("production", 1000, errors=10)  # 1.0 %
    inside = analyze(pd.concat([prod, frame("canary", 1000, errors=30)]), policy(max_error_rate_increase=0.02))
    outside = analyze(pd.concat([prod, frame("canary", 1000, errors=31)]), policy(max_error_rate_increase=0.02))
    assert inside.decision == PASS, inside.summary()
    assert outside.decision == FAIL and "error rate" in outside.reason


def test_p99_latency_ratio_at_the_threshold() -> None:
    prod = frame("production", 500, latency=10.0)
    assert analyze(pd.concat([prod, frame("canary", 500, latency=15.0)]), policy()).decision == PASS
    slow = analyze(pd.concat([prod, frame("canary", 500, latency=15.01)]), policy())
    assert slow.decision == FAIL and "p99 latency" in slow.reason


def test_prediction_psi_at_the_threshold() -> None:
    prod = frame("production", 1000, preds=[0] * 500 + [1] * 500)
    shifted = frame("canary", 1000, preds=[0] * 700 + [1] * 300)
    value = sample_psi(prod["prediction"], shifted["prediction"])
    assert value == pytest.approx((0.7 - 0.5) * np.log(0.7 / 0.5) + (0.3 - 0.5) * np.log(0.3 / 0.5))
    data = pd.concat([prod, shifted])
    assert analyze(data, policy(max_prediction_psi=value + 1e-9)).decision == PASS
    assert analyze(data, policy(max_prediction_psi=value - 1e-9)).decision == FAIL


def test_psi_bins_continuous_predictions_and_finds_a_shift() -> None:
    rng = np.random.default_rng(0)
    same = sample_psi(rng.normal(0, 1, 5000), rng.normal(0, 1, 5000))
    shifted = sample_psi(rng.normal(0, 1, 5000), rng.normal(0.5, 1, 5000))
    assert same < 0.02 and shifted > 0.2


def test_too_few_requests_waits() -> None:
    result = analyze(pd.concat([frame("production", 500), frame("canary", 99)]), policy())
    assert result.decision == WAIT and "canary 99" in result.reason


def test_business_kpi_from_sql_per_route(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kpi.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE outcomes (route TEXT, converted REAL)"))
        conn.execute(sa.text("INSERT INTO outcomes VALUES ('production', 0.10), ('canary', 0.095)"))
    query = "SELECT AVG(converted) FROM outcomes WHERE route = :route"
    now = datetime.now(UTC)
    data = pd.concat([frame("production", 200), frame("canary", 200)])
    ok = RolloutPolicy(min_requests=100, thresholds=Thresholds(kpi=KpiSpec(url, query, True, 0.051)))
    bad = RolloutPolicy(min_requests=100, thresholds=Thresholds(kpi=KpiSpec(url, query, True, 0.049)))
    assert analyze(data, ok, "m", now - timedelta(minutes=10), now).decision == PASS
    failed = analyze(data, bad, "m", now - timedelta(minutes=10), now)
    assert failed.decision == FAIL and "business KPI" in failed.reason


def test_policy_parsing_and_its_errors_name_the_file_and_key() -> None:
    parsed = parse_rollout_policy(
        {
            "steps": "5,25",
            "bake": "2m",
            "analysis": {"max_prediction_psi": 0.1},
            "models": {"fraud": {"bake": "30m", "analysis": {"max_p99_latency_ratio": 1.2}}},
        },
        "rollout.yaml",
        "fraud",
    )
    assert parsed.steps == (5, 25, 100) and parsed.bake_seconds == 1800
    assert parsed.thresholds.max_prediction_psi == 0.1 and parsed.thresholds.max_p99_latency_ratio == 1.2
    assert parse_rollout_policy({"bake": "250ms"}).bake_seconds == 0.25 and parse_steps([1, 100]) == (1, 100)
    with pytest.raises(PolicyError, match=r"rollout.yaml: unknown key\(s\) bakee"):
        parse_rollout_policy({"bakee": "1m"}, "rollout.yaml")
    with pytest.raises(PolicyError, match="must increase"):
        parse_steps("50,25")
    with pytest.raises(PolicyError, match="bake: cannot read 'soon' as a duration"):
        parse_rollout_policy({"bake": "soon"}, "rollout.yaml")
