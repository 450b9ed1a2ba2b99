"""Reference profiles and drift: shifted data is flagged, same-distribution data is not (false-alarm rate measured)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlgate.monitor.drift import drift
from mlgate.registry import Registry
from mlgate.stats.drift import kolmogorov_p_value, psi
from mlgate.stats.profile import build_profile, load_profile, log_profile
from mlgate.testing import tiny_training_data
from tests.monitor_helpers import isolated_version


def frame(
    rng: np.random.Generator, n: int, shift: float = 0.0, cat_p: tuple[float, ...] = (0.5, 0.3, 0.2)
) -> pd.DataFrame:
    """Three numeric columns (one with nulls) and one categorical; ``shift`` moves column a."""
    a = rng.normal(shift, 1.0, n)
    b = rng.exponential(2.0, n)
    c = rng.uniform(0, 10, n)
    c[rng.random(n) < 0.05] = np.nan
    cat = rng.choice(np.array(["red", "green", "blue"]), size=n, p=list(cat_p))
    return pd.DataFrame({"a": a, "b": b, "c": c, "colour": cat})


def test_profile_is_json_and_describes_each_column() -> None:
    x, y = tiny_training_data()
    x = x.assign(kind=np.where(x["sepal_length"] > 5.8, "long", "short"))
    profile = json.loads(json.dumps(build_profile(x, y)))
    assert profile["row_count"] == 150
    numeric = profile["features"]["sepal_length"]
    assert numeric["kind"] == "numeric" and sum(numeric["counts"]) == 150 and len(numeric["quantiles"]) == 101
    assert profile["features"]["kind"]["frequencies"] == {
        "long": int((x["sepal_length"] > 5.8).sum()),
        "short": int((x["sepal_length"] <= 5.8).sum()),
    }
    assert profile["prediction"]["prediction"]["kind"] == "categorical"  # integer classes with few values


def test_profile_round_trips_through_the_registry(registry: Registry, model_uri: str) -> None:
    version = isolated_version(registry, "iris", model_uri)
    assert load_profile(registry, "iris", version) is None
    x, y = tiny_training_data()
    log_profile(registry, "iris", version, build_profile(x, y))
    loaded = load_profile(registry, "iris", version)
    assert loaded is not None and set(loaded["features"]) == set(x.columns)


def test_shifted_column_is_found_and_others_are_not() -> None:
    rng = np.random.default_rng(1)
    reference = frame(rng, 20_000)
    profile = build_profile(reference)
    current = frame(rng, 5_000, shift=0.5, cat_p=(0.2, 0.3, 0.5))
    result = drift(profile, current, tests=("ks", "chi2"))
    assert sorted(result.drifted) == ["a", "colour"]
    assert result.features["a"].psi > 0.2 and result.features["a"].ks_p_value < 1e-6
    assert result.features["colour"].chi2_p_value < 1e-6
    assert result.features["b"].psi < 0.05
    assert abs(result.features["c"].null_rate - 0.05) < 0.01


def test_unseen_category_is_counted_apart() -> None:
    rng = np.random.default_rng(2)
    profile = build_profile(frame(rng, 5_000))
    current = frame(rng, 1_000)
    current.loc[:99, "colour"] = "purple"
    result = drift(profile, current)
    assert result.features["colour"].unseen == {"purple": 100}


def test_false_alarm_rate_on_same_distribution_is_stated_and_low() -> None:
    """Over 200 seeds of 2,000 rows each against a 10,000-row reference, PSI >= 0.2 never fires;
    with the KS / chi-square tests at p < 0.01 per column the rate stays near its nominal level."""
    reference = frame(np.random.default_rng(0), 10_000)
    profile = build_profile(reference)
    seeds = 200
    psi_alarms = test_alarms = 0
    for seed in range(1, seeds + 1):
        current = frame(np.random.default_rng(seed), 2_000)
        psi_alarms += bool(drift(profile, current).drifted)
        test_alarms += bool(drift(profile, current, tests=("ks", "chi2")).drifted)
    psi_rate = psi_alarms / seeds
    test_rate = test_alarms / seeds
    print(f"false-alarm rate over {seeds} seeds: PSI {psi_rate:.1%}, PSI+KS/chi2 {test_rate:.1%}")
    assert psi_rate == 0.0
    assert test_rate <= 0.10  # 4 columns at p < 0.01: ~4 % expected


def test_psi_of_identical_counts_is_zero_and_grows_with_shift() -> None:
    assert psi(np.array([10, 20, 30]), np.array([1, 2, 3])) == pytest.approx(0.0)
    assert psi(np.array([10, 20, 30]), np.array([30, 20, 10])) > psi(np.array([10, 20, 30]), np.array([12, 20, 28]))


def test_prediction_drift_is_measured() -> None:
    rng = np.random.default_rng(3)
    reference = frame(rng, 5_000)
    profile = build_profile(reference, rng.choice([0, 1], size=5_000, p=[0.9, 0.1]))
    current = frame(rng, 2_000)
    predictions = pd.DataFrame({"prediction": rng.choice([0, 1], size=2_000, p=[0.5, 0.5])})
    result = drift(profile, current, predictions)
    assert result.prediction_psi > 0.2
    assert result.signals()["drift.prediction_psi"] == result.prediction_psi


def test_ks_p_value_matches_scipy_without_importing_it() -> None:
    from scipy.stats import kstwo

    for statistic, n in ((0.05, 500), (0.02, 2_000), (0.1, 100), (0.01, 50_000), (0.3, 20)):
        assert kolmogorov_p_value(statistic, n) == pytest.approx(kstwo.sf(statistic, n), rel=0.03, abs=1e-4)
