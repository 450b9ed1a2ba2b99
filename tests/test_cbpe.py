"""CBPE: performance estimated without labels tracks the realized metric under covariate shift, over many seeds;
on a demo-sized evaluation set its band stays honest; a shadow's answers are scored on the caller's inputs."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from mlgate.config import Settings
from mlgate.monitor.run import MonitorOptions, run_pass
from mlgate.registry import Registry
from mlgate.serving.labels import LabelStore, parse_labels
from mlgate.serving.record import PredictionStore, Served, default_store_url
from mlgate.stats.cbpe import calibrate, estimate
from mlgate.testing.runs import iris_frames, record_training_run, register_recorded, train_iris

SEEDS = 40
SMALL_SEEDS = 60


def population(rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two features; the label depends on them the same way before and after the shift (covariate shift)."""
    x = rng.normal(shift, 1.0, (n, 2))
    p = 1.0 / (1.0 + np.exp(-(1.5 * x[:, 0] - x[:, 1] + 0.3)))
    return x, (rng.random(n) < p).astype(int)


def realized(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    predicted = proba.argmax(axis=1)
    return {
        "accuracy": accuracy_score(y, predicted),
        "f1": f1_score(y, predicted),
        "roc_auc": roc_auc_score(y, proba[:, 1]),
    }


def test_the_estimate_tracks_the_realized_metric_within_its_band_under_covariate_shift() -> None:
    inside = {"accuracy": 0, "f1": 0, "roc_auc": 0}
    errors: dict[str, list[float]] = {k: [] for k in inside}
    moved = []
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        model = LogisticRegression().fit(*population(rng, 3000))
        x_ref, y_ref = population(rng, 2000)
        calibration = calibrate(model.predict_proba(x_ref), y_ref)
        x_old, y_old = population(rng, 1000)
        before = estimate(calibration, model.predict_proba(x_old))["accuracy"].value
        truth_before = realized(y_old, model.predict_proba(x_old))["accuracy"]
        x_new, y_new = population(rng, 1000, shift=1.0)
        proba = model.predict_proba(x_new)
        after, truth = estimate(calibration, proba), realized(y_new, proba)
        for metric, value in truth.items():
            inside[metric] += after[metric].low <= value <= after[metric].high
            errors[metric].append(after[metric].value - value)
        moved.append((after["accuracy"].value - before, truth["accuracy"] - truth_before))
    # measured: accuracy 38/40, f1 38/40, roc_auc 39/40 inside the 95 % band (a logistic model's scores are
    # calibrated already: cross-fitting keeps the raw score in 35 of 40 seeds); with in-sample isotonic maps
    # the bias they left under a one-sigma shift gave 37, 37 and 33 of 40
    assert all(count >= 0.85 * SEEDS for count in inside.values()), inside
    assert all(abs(float(np.mean(e))) < 0.015 for e in errors.values()), {k: np.mean(e) for k, e in errors.items()}
    assert all(float(np.mean(np.abs(e))) < 0.03 for e in errors.values())
    estimated_move, realized_move = np.mean(moved, axis=0)  # the shift changes accuracy; the estimate sees it
    assert abs(realized_move) > 0.005 and abs(estimated_move - realized_move) < 0.4 * abs(realized_move)


def test_a_multiclass_estimate_is_close_on_the_reference_distribution() -> None:
    rng = np.random.default_rng(7)
    centers = np.array([[0, 0], [2, 0], [0, 2]])
    labels = rng.integers(0, 3, 6000)
    x = centers[labels] + rng.normal(0, 1.0, (6000, 2))
    model = LogisticRegression().fit(x[:3000], labels[:3000])
    calibration = calibrate(model.predict_proba(x[3000:4500]), labels[3000:4500])
    proba = model.predict_proba(x[4500:])
    estimates = estimate(calibration, proba)
    truth = accuracy_score(labels[4500:], proba.argmax(axis=1))
    assert estimates["accuracy"].low <= truth <= estimates["accuracy"].high
    assert abs(estimates["roc_auc"].value - roc_auc_score(labels[4500:], proba, multi_class="ovr")) < 0.02


def test_bad_inputs_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="two classes"):
        calibrate(np.array([[0.2, 0.8]] * 5), np.ones(5))
    calibration = calibrate(np.array([[0.8, 0.2], [0.3, 0.7]] * 10), np.array([0, 1] * 10))
    with pytest.raises(ValueError, match="2 columns"):
        estimate(calibration, np.ones((3, 3)) / 3)
    assert estimate(calibration, np.empty((0, 2))) == {}


def test_a_demo_sized_evaluation_set_gives_an_honest_band_and_never_a_certain_auc() -> None:
    """The demo's case: a random forest on the breast-cancer set, calibrated on 140 evaluation rows.

    In-sample isotonic maps on so few rows were all 0 or 1: ROC AUC 1.000 with a band [1.000, 1.000].
    """
    x, y = load_breast_cancer(return_X_y=True)
    inside = {"accuracy": 0, "f1": 0, "roc_auc": 0}
    for seed in range(SMALL_SEEDS):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        train, evaluation, served = order[:300], order[300:440], order[440:]  # 140 evaluation rows as in the demo
        model = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=seed, n_jobs=1)
        model.fit(x[train], y[train])
        calibration = calibrate(model.predict_proba(x[evaluation]), y[evaluation], seed=seed)
        proba = model.predict_proba(x[served])
        estimates, truth = estimate(calibration, proba, seed=seed), realized(y[served], proba)
        for metric, value in truth.items():
            inside[metric] += estimates[metric].low <= value <= estimates[metric].high
        auc = estimates["roc_auc"]
        if truth["roc_auc"] < 1.0:  # a realized AUC below 1 is never estimated as a certain 1
            assert auc.value < 1.0 and auc.high > auc.low, (seed, auc)
    # measured over these 60 seeds: accuracy 54/60, f1 54/60, roc_auc 58/60 inside the 95 % band; before the fix
    # (in-sample isotonic maps, the band without their uncertainty) 51/60, 46/60 and 35/60
    assert inside["accuracy"] >= 0.88 * SMALL_SEEDS and inside["roc_auc"] >= 0.9 * SMALL_SEEDS, inside
    assert inside["f1"] >= 0.85 * SMALL_SEEDS, inside


def test_the_demos_own_model_gets_a_visible_auc_band_that_holds_the_realized_auc() -> None:
    """`make demo`'s model and evaluation set (140 rows); its traffic is the first 300 rows of the source, most of
    them rows the forest was trained on. Before: ROC AUC 1.000 with a band [1.000, 1.000] in the report."""
    from pipelines import data
    from pipelines.train import fit

    fitted = fit(seed=42, variant=1)
    evaluation, traffic = fitted.evaluation_data, data.builtin_source().head(300)
    calibration = calibrate(fitted.model.predict_proba(evaluation[data.FEATURES]), evaluation[data.TARGET])
    proba = fitted.model.predict_proba(traffic[data.FEATURES])
    auc = estimate(calibration, proba)["roc_auc"]
    realized_auc = roc_auc_score(traffic[data.TARGET], proba[:, 1])
    assert auc.low <= realized_auc <= auc.high < 1.0 + 1e-12, (auc, realized_auc)
    assert round(auc.high, 3) - round(auc.low, 3) >= 0.005 and auc.value < 1.0, auc  # a band the report shows


def test_a_shadows_answers_are_scored_on_the_inputs_the_caller_sent(registry: Registry, settings: Settings) -> None:
    """A shadow records no inputs (the caller's answer under the same request id has them): the realized ROC AUC
    and the estimate use those inputs, not empty rows that every model scores alike."""
    run = record_training_run(settings, model=train_iris())
    register_recorded(registry, "iris", run.model_uri)
    shadow = register_recorded(registry, "iris", run.model_uri)
    x, y, _ = iris_frames()
    rows = x.sample(90, random_state=3)
    truth = y.loc[rows.index].to_numpy()
    model = train_iris()
    now = time.time()
    served = []
    for i in range(len(rows)):
        one = rows.iloc[[i]]
        answer = model.predict(one).tolist()
        served.append(Served(now - 60 + i * 0.1, "iris", "1", "production", f"r{i}", None, 200, 5.0, one, answer))
        served.append(Served(now - 59 + i * 0.1, "iris", shadow, "shadow", f"r{i}", None, 200, 5.0, ([], [[]]), answer))
    url = default_store_url(settings)
    store = PredictionStore(url)
    labels = LabelStore(url)
    try:
        store.record_many(served)
        labels.add(parse_labels([{"request_id": f"r{i}", "label": int(truth[i])} for i in range(len(rows))])[0])
    finally:
        store.close()
        labels.close()
    result = run_pass(registry, "iris", MonitorOptions(version=shadow, alert=False, log_report=False))
    assert result.truth is not None and result.truth.labelled == len(rows)  # every row labelled: none unparseable
    realized_auc = result.truth.realized.get("roc_auc")
    expected = roc_auc_score(truth, model.predict_proba(rows), multi_class="ovr")
    assert realized_auc == pytest.approx(expected), result.truth.to_dict()
    assert not any("no recorded inputs" in note for note in result.truth.notes), result.truth.notes
    assert result.quality is not None and all(c.null_rate == 0 for c in result.quality.columns.values())  # not empty
    band = result.truth.estimated["accuracy"]  # iris is easy and the shadow is the same model: the band says so
    assert band.low <= result.truth.realized["accuracy"] <= band.high and band.low > 0.8, band
