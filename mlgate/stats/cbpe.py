"""Confidence-based performance estimation (CBPE): a classifier's accuracy, F1 and ROC AUC without labels.

    calibration = calibrate(reference_proba, reference_labels)     # on the version's evaluation set
    estimates = estimate(calibration, served_proba)                # {metric: Estimate(value, low, high)}

Each class's probability is calibrated on labelled reference data (isotonic regression, one class
against the rest, rows renormalised), so that a calibrated probability is the chance the label is
that class. The expected confusion matrix of served rows follows: accuracy is the mean calibrated
probability of the predicted class; F1 comes from expected true and false positives; ROC AUC from the
expected positives and negatives under each score. The band is the 2.5-97.5 % range of the metric
when labels are drawn from the calibrated probabilities (the sampling noise of a window of that size).
The estimate holds while P(label | score) stays what it was on the reference (covariate shift);
a change of the concept itself needs labels (realized metrics) to be seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ESTIMATED = ("accuracy", "f1", "roc_auc")  # names from the metric vocabulary (mlgate.stats.metrics)
DRAWS = 400  # label sets drawn for the band, spread over the calibration's resamples
RESAMPLES = 10


@dataclass(frozen=True)
class Estimate:
    """One metric estimated without labels, with its band."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Calibration:
    """Per-class isotonic maps from a score to the chance of that class, fitted on labelled reference rows."""

    classes: tuple[Any, ...]
    thresholds: tuple[np.ndarray, ...]  # per class: the fitted map's x knots
    values: tuple[np.ndarray, ...]  # per class: the fitted map's y at those knots
    resamples: tuple[Calibration, ...] = ()  # fitted on bootstrap resamples of the reference: its own uncertainty

    def apply(self, proba: Any) -> np.ndarray:
        """Calibrated class probabilities of rows of raw probabilities (columns in ``classes`` order)."""
        raw = _matrix(proba, len(self.classes))
        if len(self.classes) == 2:
            positive = np.interp(raw[:, 1], self.thresholds[1], self.values[1])
            return np.column_stack([1.0 - positive, positive])
        out = np.column_stack(
            [np.interp(raw[:, k], self.thresholds[k], self.values[k]) for k in range(len(self.classes))]
        )
        total = out.sum(axis=1, keepdims=True)
        uniform = np.full_like(out, 1.0 / out.shape[1])
        return np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform)


def calibrate(proba: Any, labels: Any, classes: Any = None, resamples: int = RESAMPLES, seed: int = 0) -> Calibration:
    """Fit the calibration on reference rows: raw probabilities and their true labels.

    ``classes``: the labels in the probability columns' order (default: the sorted distinct labels,
    as scikit-learn's ``predict_proba`` orders them). ``resamples`` bootstrap fits carry the
    calibration's own uncertainty (a small reference set) into the band.
    """
    y = np.asarray(labels)
    known = tuple(np.unique(y).tolist()) if classes is None else tuple(np.asarray(classes).tolist())
    if len(known) < 2:
        raise ValueError("calibration needs at least two classes")
    raw = _matrix(proba, len(known))
    if len(y) != raw.shape[0]:
        raise ValueError(f"{raw.shape[0]} probability rows but {len(y)} labels")
    rng = np.random.default_rng(seed)
    picks = [rng.integers(0, len(y), len(y)) for _ in range(resamples)]
    fits = [_fit(raw[i], y[i], known) for i in picks]
    return Calibration(*_fit(raw, y, known), tuple(Calibration(*fit) for fit in fits))


def _fit(
    raw: np.ndarray, y: np.ndarray, known: tuple[Any, ...]
) -> tuple[tuple[Any, ...], tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    from sklearn.isotonic import IsotonicRegression

    thresholds, values = [], []
    for k, label in enumerate(known):
        if len(known) == 2 and k == 0:  # two classes: the second's map gives both (apply uses 1 - p)
            thresholds.append(np.array([0.0, 1.0]))
            values.append(np.array([0.0, 1.0]))
            continue
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw[:, k], (y == label).astype(float))
        thresholds.append(np.asarray(iso.X_thresholds_, dtype=float))
        values.append(np.asarray(iso.y_thresholds_, dtype=float))
    return known, tuple(thresholds), tuple(values)


def estimate(
    calibration: Calibration, proba: Any, metrics: tuple[str, ...] = ESTIMATED, draws: int = DRAWS, seed: int = 0
) -> dict[str, Estimate]:
    """Each of ``metrics`` (accuracy, f1, roc_auc) estimated on served rows' raw probabilities, with its band.

    An empty window gives no estimate (an empty dict).
    """
    raw = _matrix(proba, len(calibration.classes))
    if raw.shape[0] == 0:
        return {}
    p = calibration.apply(raw)
    predicted = raw.argmax(axis=1)
    expected = {
        "accuracy": float(p[np.arange(len(p)), predicted].mean()),
        "f1": _expected_f1(p, predicted),
        "roc_auc": _expected_auc(p, raw),
    }
    fits = calibration.resamples or (calibration,)
    per_fit = max(1, draws // len(fits))
    parts = [_sampled(fit.apply(raw), predicted, raw, per_fit, seed + i) for i, fit in enumerate(fits)]
    sampled = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    out = {}
    for name in metrics:
        if name not in expected:
            raise ValueError(f"CBPE estimates {', '.join(ESTIMATED)}, not {name!r}")
        spread = sampled[name][np.isfinite(sampled[name])]
        low, high = np.quantile(spread, [0.025, 0.975]) if len(spread) else (np.nan, np.nan)
        value = expected[name]
        out[name] = Estimate(value, float(min(low, value)), float(max(high, value)))
    return out


def _matrix(proba: Any, n_classes: int) -> np.ndarray:
    raw = np.asarray(proba, dtype=float)
    if raw.ndim == 1:
        raw = np.column_stack([1.0 - raw, raw])
    if raw.ndim != 2 or raw.shape[1] != n_classes:
        raise ValueError(f"expected probabilities with {n_classes} columns, got shape {raw.shape}")
    return raw


def _expected_f1(p: np.ndarray, predicted: np.ndarray) -> float:
    classes = range(p.shape[1]) if p.shape[1] > 2 else (1,)
    scores = []
    for k in classes:
        chosen = predicted == k
        tp = p[chosen, k].sum()
        fp = (1.0 - p[chosen, k]).sum()
        fn = p[~chosen, k].sum()
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0)
    return float(np.mean(scores))


def _expected_auc(p: np.ndarray, raw: np.ndarray) -> float:
    """ROC AUC with each row a positive of weight p and a negative of weight 1 - p (self-pairs left out)."""
    scores = []
    for k in range(p.shape[1]) if p.shape[1] > 2 else (1,):
        order = np.argsort(raw[:, k], kind="mergesort")
        score, pos = raw[order, k], p[order, k]
        neg = 1.0 - pos
        cumulative = np.concatenate([[0.0], np.cumsum(neg)])
        below = cumulative[np.searchsorted(score, score, side="left")]  # negative weight with a lower score
        tied = cumulative[np.searchsorted(score, score, side="right")] - below - neg  # the same score, not itself
        numerator = float((pos * (below + 0.5 * tied)).sum())
        denominator = float(pos.sum() * neg.sum() - (pos * neg).sum())
        scores.append(numerator / denominator if denominator > 0 else np.nan)
    return float(np.nanmean(scores)) if not np.all(np.isnan(scores)) else float("nan")


def _sampled(p: np.ndarray, predicted: np.ndarray, raw: np.ndarray, draws: int, seed: int) -> dict[str, np.ndarray]:
    """Each metric over ``draws`` label sets drawn from the calibrated probabilities."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    n, k = p.shape
    cumulative = np.cumsum(p, axis=1)
    labels = (rng.random((draws, n, 1)) > cumulative[None, :, :-1]).sum(axis=2)  # draws x n class indices
    accuracy = (labels == predicted[None, :]).mean(axis=1)
    f1s, aucs = [], []
    for c in range(k) if k > 2 else (1,):
        truth, chosen = labels == c, predicted[None, :] == c
        tp = (truth & chosen).sum(axis=1)
        fp = (~truth & chosen).sum(axis=1)
        fn = (truth & ~chosen).sum(axis=1)
        denominator = 2 * tp + fp + fn
        f1s.append(np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), 0.0))
        ranks = rankdata(raw[:, c])
        positives = truth.sum(axis=1)
        negatives = n - positives
        rank_sum = truth.astype(float) @ ranks
        with np.errstate(invalid="ignore", divide="ignore"):
            aucs.append((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))
    return {"accuracy": accuracy, "f1": np.mean(f1s, axis=0), "roc_auc": np.nanmean(np.vstack(aucs), axis=0)}
