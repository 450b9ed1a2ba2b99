"""The metric vocabulary: one name per metric (aliases accepted), its direction, and its value on known data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlgate.stats.metrics import METRICS, compute, known_names, lookup, measure
from mlgate.training import evaluation_metrics

Y_TRUE = np.array([1, 1, 0, 0])
Y_PRED = np.array([1, 0, 0, 0])
PROBA = np.array([[0.2, 0.8], [0.65, 0.35], [0.6, 0.4], [0.9, 0.1]])  # P(1): 0.8, 0.35 | 0.4, 0.1


def test_every_name_and_alias_names_one_metric_and_aliases_resolve_to_the_canonical_one() -> None:
    names = [name for metric in METRICS for name in metric.names]
    assert len(names) == len(set(names))
    assert lookup("roc_auc_ovr") is lookup("roc_auc")
    assert lookup("roc_auc_ovr").name == "roc_auc"  # type: ignore[union-attr]
    assert lookup("acc") is None
    assert "roc_auc (roc_auc_ovr)" in known_names()


def test_values_on_a_hand_computed_binary_example() -> None:
    values = compute("classification", Y_TRUE, Y_PRED, PROBA)
    assert values["accuracy"] == 0.75
    assert values["f1"] == pytest.approx(2 / 3)  # the positive class: precision 1, recall 1/2
    assert values["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)  # class 0: precision 2/3, recall 1
    assert values["roc_auc"] == 0.75  # of the four (positive, negative) pairs, 0.35 < 0.4 is the one misordered
    assert values["recall_macro"] == pytest.approx(0.75)


def test_beyond_two_classes_f1_is_the_macro_average_and_roc_auc_is_one_vs_rest() -> None:
    y_true = np.array([0, 1, 2, 2, 1, 0])
    y_pred = np.array([0, 1, 2, 1, 1, 0])
    proba = np.eye(3)[y_pred] * 0.7 + 0.1
    values = compute("classification", y_true, y_pred, proba)
    assert values["f1"] == values["f1_macro"]
    assert 0.5 < values["roc_auc"] < 1


def test_direction_says_which_way_is_worse() -> None:
    assert lookup("accuracy").loss(0.8, 0.9) == pytest.approx(0.1)  # type: ignore[union-attr]
    assert lookup("rmse").loss(2.0, 1.5) == pytest.approx(0.5)  # type: ignore[union-attr]
    assert lookup("rmse").loss(1.0, 1.5) == pytest.approx(-0.5)  # type: ignore[union-attr]


def test_a_metric_the_data_cannot_give_is_left_out_with_the_reason() -> None:
    measured = measure("classification", Y_TRUE, Y_PRED, None, names=["accuracy", "roc_auc_ovr", "rmse", "acc"])
    assert measured.values == {"accuracy": 0.75}
    assert "needs class probabilities" in measured.unavailable["roc_auc"]
    assert measured.unavailable["rmse"] == "rmse measures a regression model, not a classification one"
    assert measured.unavailable["acc"] == "mlgate knows no metric 'acc'"

    text_labels = measure("classification", np.array(["yes", "no", "no"]), np.array(["yes", "yes", "no"]))
    assert "f1" not in text_labels.values and "pos_label" in text_labels.unavailable["f1"]
    assert text_labels.values["f1_macro"] == pytest.approx(2 / 3)


def test_training_logs_the_vocabularys_names_and_values() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.metrics import f1_score, roc_auc_score

    from mlgate.testing import tiny_training_data

    x, y = tiny_training_data()
    binary = (y == 1).astype("int64")
    model = LogisticRegression(max_iter=300).fit(x, binary)
    logged = evaluation_metrics(model, x, binary, "classification")
    assert logged["f1"] == pytest.approx(f1_score(binary, model.predict(x)))  # the positive class's F1
    assert logged["roc_auc"] == pytest.approx(roc_auc_score(binary, model.predict_proba(x)[:, 1]))
    assert set(logged) == {"accuracy", "f1", "roc_auc"}

    target = pd.Series(x["petal_length"].to_numpy() * 2.0)
    regression = evaluation_metrics(LinearRegression().fit(x, target), x, target, "regression")
    assert set(regression) == {"rmse", "mae", "r2"} and regression["r2"] == pytest.approx(1.0)
