"""Record-based canary analysis takes each side by version: behind HAProxy, pinned gateways record every answer on
route production, and the canary's answers still count; shadow rows and other versions never do."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlgate.release.rollout.analysis import FAIL, INCONCLUSIVE, PASS, analyze
from mlgate.release.rollout.judging import with_realized
from mlgate.release.rollout.policy import RolloutPolicy, Thresholds, parse_rollout_policy


def answers(version: str, route: str, n: int, errors: int = 0, accuracy: float = 0.9, seed: int = 0) -> pd.DataFrame:
    """``n`` recorded requests of one version on one route, ``errors`` of them HTTP 500, with labels."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    right = rng.random(n) < accuracy
    return pd.DataFrame(
        {
            "ts": pd.Timestamp.now(tz="UTC"),
            "model": "m",
            "version": version,
            "route": route,
            "request_id": [f"{version}-{route}-{seed}-{i}" for i in range(n)],
            "status": [500 if i < errors else 200 for i in range(n)],
            "latency_ms": 10.0,
            "prediction": np.where(right, truth, 1 - truth),
            "label": truth,
        }
    )


def pinned(canary_errors: int = 0, canary_accuracy: float = 0.9) -> pd.DataFrame:
    """What pinned gateways behind HAProxy record: v1 and v2 both on route production; plus mirrored (shadow)
    answers of v2 that all failed, and a stray v3 that all failed."""
    return pd.concat(
        [
            answers("1", "production", 600, seed=1),
            answers("2", "production", 400, errors=canary_errors, accuracy=canary_accuracy, seed=2),
            answers("2", "shadow", 300, errors=300, seed=3),
            answers("3", "production", 200, errors=200, seed=4),
        ],
        ignore_index=True,
    )


POLICY = RolloutPolicy(min_requests=100, thresholds=Thresholds(max_error_rate_increase=0.01))


def test_pinned_gateways_records_are_judged_by_version_and_shadow_or_other_versions_never_count() -> None:
    by_route = analyze(pinned(), POLICY)  # the analysis without the rollout's versions: routes only
    assert by_route.decision == INCONCLUSIVE and "canary 0" in by_route.reason

    judged = analyze(pinned(), POLICY, production="1", canary="2")
    assert judged.decision == PASS, judged.summary()
    assert (judged.production.requests, judged.production.errors, judged.production.version) == (600, 0, "1")
    assert (judged.canary.requests, judged.canary.errors, judged.canary.version) == (400, 0, "2")

    # the built-in router records v2 on route canary: the same figures, the same verdict
    builtin = pinned().assign(route=lambda f: f["route"].where(~((f["version"] == "2") & (f["route"] == "production")),
                                                                "canary"))  # fmt: skip
    same = analyze(builtin, POLICY, production="1", canary="2")
    assert (same.decision, same.canary.requests, same.production.requests) == (PASS, 400, 600)

    # a canary that fails 5 % of its requests on route production is caught (production's 0 %, 1 % allowed)
    worse = analyze(pinned(canary_errors=20), POLICY, production="1", canary="2")
    assert worse.decision == FAIL and worse.reason == "breached: error rate", worse.summary()
    assert worse.canary.error_rate == 20 / 400


def test_the_realized_metric_criterion_takes_each_side_by_version_too() -> None:
    policy = parse_rollout_policy(
        {"analysis": {"realized": {"metric": "accuracy", "max_drop": 0.05, "min_labels": 100}}}
    )
    results = {}
    for accuracy in (0.9, 0.6):
        frame = pinned(canary_accuracy=accuracy)
        base = analyze(frame, policy, production="1", canary="2")
        assert base.decision == PASS, base.summary()
        results[accuracy] = with_realized(base, policy, frame)
    kept, dropped = results[0.9], results[0.6]
    assert kept.decision == PASS and kept.criteria[-1].passed is True, kept.summary()
    assert dropped.decision == FAIL and dropped.criteria[-1].name == "realized accuracy", dropped.summary()
    assert "on 400 labels" in dropped.criteria[-1].detail and "on 600" in dropped.criteria[-1].detail
