"""The realized-metric criterion of canary analysis and the watch: labelled answers judged side by side, not judged
below min_labels, a worse canary fails the step; rollout.yaml's analysis.realized checked."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mlgate.config import Settings
from mlgate.exceptions import PolicyError
from mlgate.release.rollout.analysis import FAIL, PASS, Analysis, RouteFigures
from mlgate.release.rollout.judging import with_realized
from mlgate.release.rollout.policy import parse_rollout_policy
from mlgate.release.rollout.realized import with_labels
from mlgate.serving.labels import LabelStore, parse_labels
from mlgate.serving.record import PredictionStore, Served, default_store_url


def record(settings: Settings, canary_accuracy: float, labelled: int, seed: int = 0) -> PredictionStore:
    """200 answers on each route; production right 90 % of the time, the canary ``canary_accuracy``."""
    rng = np.random.default_rng(seed)
    url = default_store_url(settings)
    predictions, labels = PredictionStore(url), LabelStore(url)
    served, items = [], []
    now = time.time()
    for route, version, accuracy in (("production", "1", 0.9), ("canary", "2", canary_accuracy)):
        for i in range(200):
            truth = int(rng.integers(0, 2))
            answer = truth if rng.random() < accuracy else 1 - truth
            rid = f"{route}-{i}"
            served.append(
                Served(now - 60 + i * 0.1, "m", version, route, rid, None, 200, 5.0, (["x"], [[i]]), [answer])
            )
            if i < labelled:
                items.append({"request_id": rid, "label": truth})
    predictions.record_many(served)
    labels.add(*parse_labels(items))
    labels.close()
    return predictions


def passing() -> Analysis:
    figures = RouteFigures("production", "1", 200, 0, 0.0, 5.0)
    return Analysis(PASS, "every figure within its threshold", figures, RouteFigures("canary", "2", 200, 0, 0.0, 5.0))


POLICY = {"analysis": {"realized": {"metric": "accuracy", "max_drop": 0.05, "min_labels": 100}}}


@pytest.mark.parametrize(("canary_accuracy", "decision"), [(0.9, PASS), (0.6, FAIL)])
def test_a_worse_canary_on_labelled_answers_fails_the_step(
    settings: Settings, canary_accuracy: float, decision: str
) -> None:
    store = record(settings, canary_accuracy, labelled=150)
    frame = with_labels(store, store.window("m", inputs=False))
    judged = with_realized(passing(), parse_rollout_policy(POLICY), frame)
    assert judged.decision == decision
    realized = judged.criteria[-1]
    assert realized.name == "realized accuracy" and "on 150 labels" in realized.detail
    assert (realized.passed is True) == (decision == PASS)


def test_too_few_labels_leave_the_criterion_unjudged(settings: Settings) -> None:
    store = record(settings, 0.5, labelled=40)
    frame = with_labels(store, store.window("m", inputs=False))
    judged = with_realized(passing(), parse_rollout_policy(POLICY), frame)
    assert judged.decision == PASS
    assert judged.criteria[-1].passed is None and "need 100" in judged.criteria[-1].detail


@pytest.mark.parametrize(
    ("realized", "message"),
    [({"metric": "accuracyy"}, "is not a metric"), ({"metric": "f1", "min_labels": 0}, "min_labels >= 1"),
     ({"metric": "f1", "labels": 3}, "unknown key")],
)  # fmt: skip
def test_a_bad_realized_section_is_refused_with_what_to_fix(realized: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_rollout_policy({"analysis": {"realized": realized}})
