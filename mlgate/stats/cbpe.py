"""Confidence-based performance estimation (CBPE): a classifier's accuracy, F1 and ROC AUC without labels.

    calibration = calibrate(reference_proba, reference_labels)     # on the version's evaluation set
    estimates = estimate(calibration, served_proba)                # {metric: Estimate(value, low, high)}

Each class's score (one against the rest) gets a calibration map only where it helps, as in
NannyML's CBPE: isotonic maps fitted on ``FOLDS - 1`` folds of the reference are scored (Brier) on
the held-out fold (cross-fitting); when they do not beat the raw score, the raw score is kept. A
map's steps are Beta posterior means with ``PRIOR_ROWS`` pseudo-rows at the step's raw score, so a
small reference (the demo's 140 rows) never yields a certain 0 or 1 that makes served rows sure hits.
The expected confusion matrix of served rows follows: accuracy is the mean calibrated probability
of the predicted class; F1 comes from expected true and false positives; ROC AUC from the expected
positives and negatives under each score. The band is the 2.5-97.5 % range of the metric when labels
are drawn from ``RESAMPLES`` maps refitted on bootstrap resamples of the reference, each step drawn
from its posterior (a step that saw no error is not certain either), a map refitted even where the
raw score is kept: the noise of a window of that size plus the calibration's own. The refits are
made once per reference; a window costs only the maps' look-ups and the draws.
The estimate holds while P(label | score) stays what it was on the reference (covariate shift);
a change of the concept itself needs labels (realized metrics) to be seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ESTIMATED = ("accuracy", "f1", "roc_auc")  # names from the metric vocabulary (mlgate.stats.metrics)
DRAWS = 400  # label sets drawn for the band, spread over the calibration's resamples
RESAMPLES = 20  # bootstrap refits of the calibration: its own uncertainty in the band
FOLDS = 5  # cross-fitting: is a map better than the raw score on rows it was not fitted on
PRIOR_ROWS = 5.0  # pseudo-rows (spread over the reference) that pull a map towards the raw score
_IDENTITY = (np.array([0.0, 1.0]), np.array([0.0, 1.0]))
_Maps = tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]  # per class: a map's x knots, its y at them


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
    """Per-class maps from a score to the chance of that class (the identity where calibrating does not help)."""

    classes: tuple[Any, ...]
    thresholds: tuple[np.ndarray, ...]  # per class: the map's x knots
    values: tuple[np.ndarray, ...]  # per class: the map's y at those knots
    resamples: tuple[Calibration, ...] = ()  # fitted on bootstrap resamples of the reference: its own uncertainty
    calibrated: tuple[bool, ...] = ()  # per class: a map is used (it beat the raw score on held-out folds)

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
    as scikit-learn's ``predict_proba`` orders them). Whether each class gets a map is decided by
    cross-fitting; ``resamples`` bootstrap refits carry the calibration's own uncertainty (a small
    reference set) into the band.
    """
    y = np.asarray(labels)
    known = tuple(np.unique(y).tolist()) if classes is None else tuple(np.asarray(classes).tolist())
    if len(known) < 2:
        raise ValueError("calibration needs at least two classes")
    raw = _matrix(proba, len(known))
    if len(y) != raw.shape[0]:
        raise ValueError(f"{raw.shape[0]} probability rows but {len(y)} labels")
    rng = np.random.default_rng(seed)
    columns = (1,) if len(known) == 2 else tuple(range(len(known)))  # two classes: the second's map gives both
    targets = {k: (y == known[k]).astype(float) for k in columns}
    flags = tuple(k in columns and _helps(raw[:, k], targets[k], rng) for k in range(len(known)))
    ones = np.ones(len(y))

    def maps(weights: np.ndarray, draw: np.random.Generator | None) -> _Maps:
        # a resample (``draw``) refits every map, the raw score's too: the chance that raw is right is uncertain
        fitted = [flags[k] or (draw is not None and k in columns) for k in range(len(known))]
        fits = [_isotonic(raw[:, k], targets[k], weights, draw) if fitted[k] else _IDENTITY for k in range(len(known))]
        return tuple(f[0] for f in fits), tuple(f[1] for f in fits)

    refits = tuple(
        Calibration(known, *maps(rng.multinomial(len(y), ones / len(y)).astype(float), rng), calibrated=flags)
        for _ in range(resamples)
    )
    return Calibration(known, *maps(ones, None), refits, flags)


def _helps(score: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> bool:
    """Whether isotonic maps fitted on the other folds score (Brier) better than the raw score on held-out rows."""
    n, positives = len(target), int(target.sum())
    if min(positives, n - positives) < FOLDS:
        return False  # too few rows of a class to fit on some folds and judge on the others
    fold = np.empty(n, dtype=int)  # stratified: each class's rows dealt over the folds in a random order
    for value in (0.0, 1.0):
        rows = np.flatnonzero(target == value)
        fold[rng.permutation(rows)] = np.arange(len(rows)) % FOLDS
    held_out = np.empty(n)
    for f in range(FOLDS):
        train = fold != f
        knots, values = _isotonic(score[train], target[train], np.ones(int(train.sum())), None)
        held_out[~train] = np.interp(score[~train], knots, values)
    return bool(np.mean((held_out - target) ** 2) < np.mean((score - target) ** 2))


def _isotonic(
    score: np.ndarray, target: np.ndarray, weights: np.ndarray, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """An isotonic map fitted with row ``weights``; each step's value is the mean of its Beta posterior.

    The prior is ``PRIOR_ROWS`` pseudo-rows at the step's mean raw score, so a step that saw no error
    on a few rows is close to its raw score's error rate, never a certain 0 or 1. With ``rng``, each
    step is drawn from that posterior instead (the uncertainty of a step, which a bootstrap of a
    step without errors cannot show).
    """
    from sklearn.isotonic import isotonic_regression

    keep = weights > 0
    x, row = np.unique(score[keep], return_inverse=True)  # tied scores pooled, as IsotonicRegression does
    w = np.bincount(row, weights[keep])
    positives = np.bincount(row, weights[keep] * target[keep])
    fitted = isotonic_regression(positives / w, sample_weight=w, y_min=0.0, y_max=1.0)
    step = np.concatenate([[0], np.cumsum(np.diff(fitted) > 1e-12)])  # score -> its step (a run of equal values)
    mass = np.bincount(step, w)
    hits = np.bincount(step, positives)
    prior = PRIOR_ROWS * np.clip(np.bincount(step, w * x) / mass, 0.0, 1.0)
    a = np.maximum(hits + prior, 1e-3)  # a raw score of exactly 0 or 1 still leaves its step uncertain
    b = np.maximum(mass - hits + PRIOR_ROWS - prior, 1e-3)
    values = a / (a + b) if rng is None else np.maximum.accumulate(rng.beta(a, b))  # steps never fall
    first = np.searchsorted(step, np.arange(len(mass)), side="left")
    last = np.searchsorted(step, np.arange(len(mass)), side="right") - 1
    return np.column_stack([x[first], x[last]]).ravel(), np.repeat(values, 2)


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
