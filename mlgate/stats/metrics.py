"""The metric vocabulary: each metric's name, other accepted names, direction, and how it is computed.

One table for training (what a run logs), the gate (thresholds, no regression) and, later, canary
analysis and monitoring::

    lookup("roc_auc_ovr") -> Metric("roc_auc", ...)   a metric by its name or one of its aliases; None if unknown
    measure(task, y_true, y_pred, proba) -> Measured    every metric of the task that the data allows
    compute(task, y_true, y_pred, proba, names) -> {name: value}

A metric is computed from the true labels (or values), the predicted ones and, for metrics
ranking by score such as ROC AUC, the class probabilities (columns in the order of the sorted
labels, as scikit-learn's ``predict_proba`` gives them). ``f1`` is what a training run logs:
the positive class's F1 when there are two classes, the macro average otherwise; ``f1_macro``
is always the macro average, so the two differ on a binary task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

CLASSIFICATION, REGRESSION = "classification", "regression"
TASKS = (CLASSIFICATION, REGRESSION)

Scorer = Callable[[Any, Any, Any], float]  # (y_true, y_pred, proba) -> value; ValueError when it cannot be


@dataclass(frozen=True)
class Metric:
    """One metric: its canonical name, the task it measures, its direction and its scorer."""

    name: str
    task: str
    higher_is_better: bool
    score: Scorer
    description: str
    aliases: tuple[str, ...] = ()
    needs_proba: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical name, then every alias."""
        return (self.name, *self.aliases)

    def loss(self, value: float, reference: float) -> float:
        """How much worse ``value`` is than ``reference`` (negative when it is better)."""
        delta = value - reference
        return -delta if self.higher_is_better else delta


@dataclass(frozen=True)
class Measured:
    """The metrics computed on one set of predictions, and why the others could not be."""

    values: dict[str, float]
    unavailable: dict[str, str] = field(default_factory=dict)


def _class_count(y_true: Any) -> int:
    import pandas as pd

    return int(pd.Series(y_true).nunique())


def _accuracy(y_true: Any, y_pred: Any, proba: Any) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred))


def _balanced_accuracy(y_true: Any, y_pred: Any, proba: Any) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y_true, y_pred))


def _f1(y_true: Any, y_pred: Any, proba: Any) -> float:
    from sklearn.metrics import f1_score

    average = "binary" if _class_count(y_true) == 2 else "macro"
    return float(f1_score(y_true, y_pred, average=average, zero_division=0))


def _macro(scorer_name: str) -> Scorer:
    def score(y_true: Any, y_pred: Any, proba: Any) -> float:
        from sklearn import metrics

        return float(getattr(metrics, scorer_name)(y_true, y_pred, average="macro", zero_division=0))

    return score


def _roc_auc(y_true: Any, y_pred: Any, proba: Any) -> float:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    if proba is None:
        raise ValueError("it needs class probabilities and the model gives none (no predict_proba)")
    scores = np.asarray(proba)
    if scores.ndim == 2 and scores.shape[1] == 2:
        return float(roc_auc_score(y_true, scores[:, 1]))
    return float(roc_auc_score(y_true, scores, multi_class="ovr"))


def _rmse(y_true: Any, y_pred: Any, proba: Any) -> float:
    import numpy as np
    from sklearn.metrics import mean_squared_error

    return float(np.sqrt(mean_squared_error(y_true, np.asarray(y_pred, dtype="float64"))))


def _mae(y_true: Any, y_pred: Any, proba: Any) -> float:
    import numpy as np
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(y_true, np.asarray(y_pred, dtype="float64")))


def _r2(y_true: Any, y_pred: Any, proba: Any) -> float:
    import numpy as np
    from sklearn.metrics import r2_score

    return float(r2_score(y_true, np.asarray(y_pred, dtype="float64")))


METRICS: tuple[Metric, ...] = (
    Metric("accuracy", CLASSIFICATION, True, _accuracy, "share of labels predicted right"),
    Metric("balanced_accuracy", CLASSIFICATION, True, _balanced_accuracy, "mean recall over the classes"),
    Metric("f1", CLASSIFICATION, True, _f1, "F1 of the positive class (two classes), else the macro average"),
    Metric("f1_macro", CLASSIFICATION, True, _macro("f1_score"), "F1 averaged over the classes"),
    Metric("precision_macro", CLASSIFICATION, True, _macro("precision_score"), "precision averaged over the classes"),
    Metric("recall_macro", CLASSIFICATION, True, _macro("recall_score"), "recall averaged over the classes"),
    Metric(
        "roc_auc",
        CLASSIFICATION,
        True,
        _roc_auc,
        "area under the ROC curve (one-vs-rest macro average beyond two classes)",
        aliases=("roc_auc_ovr",),
        needs_proba=True,
    ),
    Metric("rmse", REGRESSION, False, _rmse, "root mean squared error"),
    Metric("mae", REGRESSION, False, _mae, "mean absolute error"),
    Metric("r2", REGRESSION, True, _r2, "coefficient of determination"),
)
_BY_NAME: dict[str, Metric] = {alias: metric for metric in METRICS for alias in metric.names}
HIGHER_IS_BETTER: dict[str, bool] = {metric.name: metric.higher_is_better for metric in METRICS}


def lookup(name: str) -> Metric | None:
    """The metric called ``name`` (its canonical name or an alias); None when mlgate does not know it."""
    return _BY_NAME.get(str(name))


def known_names() -> list[str]:
    """Every accepted name, as "canonical" or "canonical (alias, ...)", for error hints."""
    return [m.name + (f" ({', '.join(m.aliases)})" if m.aliases else "") for m in METRICS]


def metrics_for(task: str) -> tuple[Metric, ...]:
    """The metrics of ``task`` (classification or regression), in table order."""
    return tuple(m for m in METRICS if m.task == task)


def measure(task: str, y_true: Any, y_pred: Any, proba: Any = None, names: Iterable[str] | None = None) -> Measured:
    """Compute the metrics of ``task`` named in ``names`` (default: all of them) that the data allows.

    A metric the data cannot give (no probabilities, one class only, labels a binary F1 cannot
    place) is left out of ``values`` and explained in ``unavailable``; a name of another task or
    an unknown name is explained there too.
    """
    wanted = metrics_for(task) if names is None else tuple(_resolve(name, task) for name in names)
    values: dict[str, float] = {}
    unavailable: dict[str, str] = {}
    for metric in wanted:
        if isinstance(metric, str):
            unavailable[metric] = _why_unknown(metric, task)
            continue
        try:
            values[metric.name] = metric.score(y_true, y_pred, proba)
        except ValueError as exc:
            unavailable[metric.name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return Measured(values, unavailable)


def compute(
    task: str, y_true: Any, y_pred: Any, proba: Any = None, names: Iterable[str] | None = None
) -> dict[str, float]:
    """The values ``measure`` computes, by canonical name."""
    return measure(task, y_true, y_pred, proba, names).values


def _resolve(name: str, task: str) -> Metric | str:
    metric = lookup(name)
    return metric if metric is not None and metric.task == task else str(name)


def _why_unknown(name: str, task: str) -> str:
    metric = lookup(name)
    if metric is None:
        return f"mlgate knows no metric {name!r}"
    return f"{metric.name} measures a {metric.task} model, not a {task} one"
