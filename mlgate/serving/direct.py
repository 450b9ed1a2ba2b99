"""The cheapest correct call of a model on validated float64 rows: scikit-learn without the DataFrame.

scikit-learn spends most of a small predict on a DataFrame's feature-name and dtype checks (about
ten times the arithmetic of a 1-row logistic regression). When the gateway has already checked a
request against the signature (names, order, types, nulls, infinities), the estimator can take the
float64 array itself. This is used only when it provably gives the same answer: the model is a plain
``mlflow.sklearn`` model predicting with ``predict``, its estimator was fitted on exactly the
signature's columns in the same order, and a probe predicts the same with the array as with the
DataFrame. Anything else (pipelines selecting columns by name, custom predict functions, other
flavors) keeps the DataFrame call.

A plain linear estimator (logistic regression, linear SVM, ridge, lasso, ...) goes one step further: its
``predict`` is one matrix product, but scikit-learn re-validates the array on every call (~50 times the
arithmetic for a few rows). On rows the gateway has validated, the product itself is called
(``linear_predict``), only for estimators using scikit-learn's own linear ``predict`` and only when a
seeded probe gives exactly the answers of ``estimator.predict``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

ArrayPredict = Callable[[np.ndarray], Any]

# scikit-learn warns on every array predict of an estimator fitted with feature names; here the
# names were checked before the call, so the warning says nothing (the filter names that message only).
_NO_NAMES = "X does not have valid feature names"
_quiet = False


def array_predictor(pyfunc_model: Any, names: list[str] | None) -> ArrayPredict | None:
    """The estimator's own ``predict`` when it may take the validated array directly, else None."""
    impl = getattr(pyfunc_model, "_model_impl", None)
    if names is None or type(impl).__name__ != "_SklearnModelWrapper":
        return None
    fn = getattr(pyfunc_model, "_predict_fn", None)
    if getattr(fn, "__func__", None) is not getattr(type(impl), "predict", None):
        return None  # a custom pyfunc_predict_fn (predict_proba, ...): the wrapper decides
    estimator = getattr(impl, "sklearn_model", None)
    fitted = getattr(estimator, "feature_names_in_", None)
    if estimator is None or fitted is None or [str(n) for n in fitted] != list(names):
        return None
    probe = np.linspace(0.5, 1.5, 3 * len(names)).reshape(3, len(names))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            by_array = estimator.predict(probe)
            by_frame = estimator.predict(pd.DataFrame(probe, columns=list(names)))
    except Exception:  # noqa: BLE001 - e.g. a column transformer selecting by name: keep the DataFrame
        return None
    if not _same(by_array, by_frame):
        return None
    _quiet_feature_names()
    return linear_predict(estimator, len(names)) or estimator.predict


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return False


def _quiet_feature_names() -> None:
    global _quiet
    if not _quiet:
        warnings.filterwarnings("ignore", message=_NO_NAMES, category=UserWarning)
        _quiet = True


def linear_predict(estimator: Any, width: int) -> ArrayPredict | None:
    """scikit-learn's linear ``predict`` without its per-call input checks, when it answers exactly the same."""
    try:
        from sklearn.linear_model._base import LinearClassifierMixin, LinearModel
    except ImportError:  # a scikit-learn that moved its (private) mixins: its own predict
        return None
    kind = type(estimator)
    coef, intercept = getattr(estimator, "coef_", None), getattr(estimator, "intercept_", None)
    if not isinstance(coef, np.ndarray) or coef.dtype != np.float64 or coef.shape[-1] != width:
        return None  # sparse or other-typed coefficients: scikit-learn's own call
    weights = coef.T if coef.ndim == 2 else coef
    if (
        kind.predict is LinearClassifierMixin.predict
        and kind.decision_function is LinearClassifierMixin.decision_function
    ):
        classes = estimator.classes_

        def predict(values: np.ndarray) -> Any:
            scores = values @ weights + intercept
            if scores.ndim > 1 and scores.shape[1] == 1:
                scores = scores.reshape(-1)
            indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
            return classes.take(indices, axis=0)

    elif (
        isinstance(estimator, LinearModel)
        and kind._decision_function is LinearModel._decision_function
        and (kind.predict is LinearModel.predict or kind.__module__.startswith("sklearn.linear_model."))
    ):  # scikit-learn's own regressors re-declare predict only to document it (Ridge, LinearRegression)

        def predict(values: np.ndarray) -> Any:
            return values @ weights + intercept

    else:
        return None
    probe = np.random.default_rng(0).normal(0.0, 3.0, size=(16, width)) * np.logspace(-2, 2, width)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not all(_same(predict(rows), estimator.predict(rows)) for rows in (probe, probe[:1], probe[:5])):
            return None
    return predict
