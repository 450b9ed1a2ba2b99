"""The figures canary analysis and monitoring share: PSI and its bins, request figures, the KPI query, digests.

Each figure is defined once in mlgate.stats; the tests also check that both of its callers
(mlgate.release.rollout.analysis and mlgate.monitor) report the same number for the same data.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from mlgate import training
from mlgate.exceptions import MlgateError
from mlgate.monitor.drift import drift
from mlgate.monitor.health import service_health
from mlgate.release.rollout.analysis import analyze, kpi_value, route_figures
from mlgate.release.rollout.policy import KpiSpec, RolloutPolicy
from mlgate.stats.digest import dataset_sha256, file_sha256
from mlgate.stats.drift import (
    OTHER,
    PSI_THRESHOLD,
    category_bins,
    decile_edges,
    numeric_counts,
    psi,
    sample_psi,
)
from mlgate.stats.kpi import query_value, read_kpi
from mlgate.stats.profile import build_profile
from mlgate.stats.requests import request_figures

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def record(route: str, predictions: np.ndarray, version: str, start: int = 0) -> pd.DataFrame:
    """Rows as PredictionStore.window() returns them: one request per prediction, 200s, rising latency."""
    n = len(predictions)
    return pd.DataFrame(
        {
            "ts": [T0 + timedelta(seconds=i) for i in range(n)],
            "model": "m",
            "version": version,
            "route": route,
            "request_id": [f"{route}-{start + i}" for i in range(n)],
            "status": 200,
            "latency_ms": np.arange(1, n + 1, dtype=float),
            "prediction": pd.Series(list(predictions), dtype=object),
        }
    )


def prediction_psi_of_analysis(production: np.ndarray, canary: np.ndarray) -> float:
    frame = pd.concat([record("production", production, "1"), record("canary", canary, "2")], ignore_index=True)
    result = analyze(frame, RolloutPolicy(min_requests=1))
    (criterion,) = [c for c in result.criteria if c.name == "prediction PSI"]
    assert criterion.value is not None
    return criterion.value


def prediction_psi_of_monitoring(reference: np.ndarray, current: np.ndarray) -> float:
    features = pd.DataFrame({"x": np.zeros(len(reference))})
    profile = build_profile(features, reference)
    result = drift(profile, pd.DataFrame({"x": np.zeros(len(current))}), pd.DataFrame({"prediction": current}))
    return result.prediction["prediction"].psi


# --- PSI ---------------------------------------------------------------------------------------------------
def test_identical_samples_have_a_psi_of_zero() -> None:
    values = np.random.default_rng(0).normal(0, 1, 5_000)
    assert sample_psi(values, values) == pytest.approx(0.0, abs=1e-12)
    labels = ["cat", "dog", "dog", "bird"] * 100
    assert sample_psi(labels, labels) == pytest.approx(0.0, abs=1e-12)
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0, abs=1e-12)  # same shares, other counts


def test_a_shifted_sample_is_above_the_threshold_and_a_fresh_draw_is_not() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(0, 1, 10_000)
    assert sample_psi(reference, rng.normal(0, 1, 5_000)) < 0.02
    assert sample_psi(reference, rng.normal(0.6, 1, 5_000)) > PSI_THRESHOLD
    assert sample_psi([0] * 500 + [1] * 500, [0] * 800 + [1] * 200) > PSI_THRESHOLD


def test_psi_of_a_sample_with_no_value_is_refused() -> None:
    with pytest.raises(MlgateError, match="values on both sides"):
        sample_psi([None, None], [1.0, 2.0])


def test_numeric_bins_are_the_reference_deciles_open_at_both_ends() -> None:
    edges = decile_edges(np.arange(1, 101, dtype=float))
    assert len(edges) == 9 and edges[0] == pytest.approx(10.9)
    counts, nulls = numeric_counts(np.array([-1e9, edges[0], edges[0] - 1e-9, 1e9, np.nan]), edges)
    assert counts.tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0, 1]  # a value on an edge belongs to the bin above it
    assert nulls == 1
    profile = build_profile(pd.DataFrame({"x": np.arange(1, 101, dtype=float)}))["features"]["x"]
    assert profile["edges"] == pytest.approx(edges.tolist()) and profile["counts"] == [10] * 10


def test_categories_the_reference_never_saw_share_one_other_bin() -> None:
    labels, ref, cur, unseen = category_bins({"a": 5, "b": 5}, {"a": 3, "c": 1, "d": 2})
    assert labels == ["a", "b", OTHER]
    assert ref.tolist() == [5, 5, 0] and cur.tolist() == [3, 0, 3] and unseen == {"c": 1, "d": 2}


def test_analysis_and_monitoring_give_the_same_psi_on_continuous_predictions() -> None:
    rng = np.random.default_rng(2)
    production, canary = rng.normal(0, 1, 4_000), rng.normal(0.3, 1.2, 3_000)
    ours = prediction_psi_of_analysis(production, canary)
    assert ours > 0.05
    assert ours == pytest.approx(prediction_psi_of_monitoring(production, canary), rel=1e-12)
    assert ours == pytest.approx(sample_psi(production, canary), rel=1e-12)


def test_analysis_and_monitoring_give_the_same_psi_on_class_labels_even_new_classes() -> None:
    rng = np.random.default_rng(3)
    production = rng.choice([0, 1, 2], size=3_000, p=[0.6, 0.3, 0.1])
    canary = rng.choice([0, 1, 2, 3, 4], size=2_000, p=[0.4, 0.3, 0.1, 0.1, 0.1])  # 3 and 4 are new: one bin
    ours = prediction_psi_of_analysis(production, canary)
    assert ours > PSI_THRESHOLD
    assert ours == pytest.approx(prediction_psi_of_monitoring(production, canary), rel=1e-12)


def test_a_feature_column_gets_the_same_psi_from_a_profile_as_from_the_sample() -> None:
    rng = np.random.default_rng(4)
    reference, current = rng.exponential(2.0, 8_000), rng.exponential(2.5, 2_000)
    profile = build_profile(pd.DataFrame({"x": reference}))
    monitored = drift(profile, pd.DataFrame({"x": current})).features["x"].psi
    assert monitored == pytest.approx(sample_psi(reference, current), rel=1e-12)


# --- request figures ---------------------------------------------------------------------------------------
def window() -> pd.DataFrame:
    """Two routes; the production requests have two rows each (two predicted input rows)."""
    prod = record("production", np.zeros(100), "1")
    prod = pd.concat([prod, prod], ignore_index=True)  # every request twice: counted once
    prod.loc[prod["request_id"].isin([f"production-{i}" for i in range(5)]), "status"] = 503
    canary = record("canary", np.zeros(40), "2", start=100)
    canary["status"] = canary["status"].astype(object)
    canary.loc[0, "status"] = "garbled"  # a status that is not a number is a failure
    canary.loc[1, "latency_ms"] = np.nan  # a request with no latency is counted, not timed
    return pd.concat([prod, canary], ignore_index=True)


def test_request_figures_count_each_request_once_and_every_failure() -> None:
    rows = window()
    prod = request_figures(rows, route="production")
    assert (prod.requests, prod.errors, prod.successes, prod.versions) == (100, 5, 95, ("1",))
    assert prod.error_rate == pytest.approx(0.05)
    expected = np.percentile(np.arange(1, 101, dtype=float), [50, 95, 99])
    assert [prod.latency_p50_ms, prod.latency_p95_ms, prod.latency_p99_ms] == pytest.approx(expected.tolist())
    canary = request_figures(rows, route="canary")
    assert (canary.requests, canary.errors) == (40, 1)
    latencies = np.delete(np.arange(1, 41, dtype=float), 1)
    assert canary.latency_p99_ms == pytest.approx(float(np.percentile(latencies, 99)))


def test_request_figures_select_version_and_window() -> None:
    rows = window()
    assert request_figures(rows, version="2").requests == 40
    late = request_figures(rows, route="production", since=T0 + timedelta(seconds=90))
    assert late.requests == 10
    early = request_figures(rows, route="production", until=(T0 + timedelta(seconds=10)).replace(tzinfo=None))
    assert early.requests == 10 and early.errors == 5  # a naive datetime is read as UTC
    nothing = request_figures(rows, route="shadow")
    assert (nothing.requests, nothing.error_rate, nothing.latency_p99_ms, nothing.versions) == (0, None, None, ())


def test_analysis_and_monitoring_report_the_same_request_figures() -> None:
    rows = window()
    for route in ("production", "canary"):
        analysed = route_figures(rows, route)
        health = service_health(rows[rows["route"] == route], window_seconds=600)
        assert (analysed.requests, analysed.errors) == (health.requests, health.errors)
        assert analysed.error_rate == pytest.approx(health.error_rate)
        assert analysed.p99_latency_ms == pytest.approx(health.latency_p99_ms)


# --- the KPI reader ----------------------------------------------------------------------------------------
@pytest.fixture
def kpi_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'kpi.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE outcomes (route TEXT, converted REAL)"))
        conn.execute(sa.text("INSERT INTO outcomes VALUES ('production', 0.10), ('production', 0.20), ('canary', 0.5)"))
    engine.dispose()
    return url


def test_one_kpi_query_serves_analysis_and_monitoring(kpi_db: str) -> None:
    query = "SELECT AVG(converted) FROM outcomes WHERE route = 'production'"
    spec = KpiSpec(kpi_db, query, True, 0.05)
    analysed = kpi_value(spec, "m", "1", "production", T0 - timedelta(hours=1), T0)
    monitored = read_kpi({"name": "conv", "baseline": 0.15, "source": {"kind": "sql", "url": kpi_db, "query": query}})
    assert analysed == pytest.approx(0.15) and monitored.value == pytest.approx(0.15)
    assert query_value(kpi_db, "SELECT AVG(converted) FROM outcomes WHERE route = :route", {"route": "canary"}) == 0.5
    assert query_value(kpi_db, "SELECT converted FROM outcomes WHERE route = 'none'", {"unused": 1}) is None


def test_a_broken_kpi_query_stops_analysis_with_a_hint_and_is_reported_by_monitoring(kpi_db: str) -> None:
    broken = "SELECT AVG(x) FROM missing_table"
    with pytest.raises(MlgateError, match="the KPI query failed") as raised:
        kpi_value(KpiSpec(kpi_db, broken), "m", "1", "canary", T0 - timedelta(hours=1), T0)
    assert "policy.yaml" in (raised.value.hint or "")
    result = read_kpi({"name": "conv", "baseline": 1, "source": {"kind": "sql", "url": kpi_db, "query": broken}})
    assert result.value is None and "missing_table" in (result.error or "")


# --- digests -----------------------------------------------------------------------------------------------
def test_digests_live_in_stats_and_training_keeps_its_names(tmp_path: Path) -> None:
    assert training.dataset_sha256 is dataset_sha256 and training.file_sha256 is file_sha256
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"]})
    assert dataset_sha256(frame) != dataset_sha256(frame.iloc[::-1])
    path = tmp_path / "blob.bin"
    path.write_bytes(b"mlgate" * 1000)
    assert file_sha256(path) == hashlib.sha256(b"mlgate" * 1000).hexdigest()
