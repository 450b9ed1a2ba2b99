"""The gateway's fast path takes only requests the general path would accept unchanged, and predicts the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from mlgate.serving.direct import array_predictor, linear_predict
from mlgate.serving.protocol import RequestError, parse
from mlgate.serving.validation import Column, Validator
from mlgate.testing import tiny_training_data

NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROW = [5.1, 3.5, 1.4, 0.2]

PAYLOADS: dict[str, Any] = {
    "split": {"dataframe_split": {"columns": NAMES, "data": [ROW, [6, 3, 5, 2]]}},
    "instances": {"instances": [ROW]},
    "inputs": {"inputs": [ROW, ROW]},
    "whole numbers": {"instances": [[5, 3, 1, 0]]},
    "other order": {"dataframe_split": {"columns": NAMES[::-1], "data": [ROW]}},
    "extra column": {"dataframe_split": {"columns": [*NAMES, "x"], "data": [[*ROW, 1.0]]}},
    "records": {"dataframe_records": [dict(zip(NAMES, ROW, strict=True))]},
    "null": {"instances": [[None, 3.5, 1.4, 0.2]]},
    "boolean": {"instances": [[True, 3.5, 1.4, 0.2]]},
    "all booleans": {"instances": [[True, False, True, False]]},
    "string": {"instances": [["5.1", 3.5, 1.4, 0.2]]},
    "infinity": {"instances": [[float("inf"), 3.5, 1.4, 0.2]]},
    "nan": {"instances": [[float("nan"), 3.5, 1.4, 0.2]]},
    "ragged": {"instances": [ROW, ROW[:3]]},
    "short rows": {"instances": [ROW[:3]]},
    "empty": {"instances": []},
    "nested": {"instances": [[[5.1], [3.5], [1.4], [0.2]]]},
    "params": {"instances": [ROW], "params": {"a": 1}},
    "huge integer": {"instances": [[2**80, 3.5, 1.4, 0.2]]},
}


def _general(validator: Validator, payload: Any) -> pd.DataFrame | RequestError:
    try:
        frame, _ = parse(json.dumps(payload).encode(), "application/json", validator.names)
        return validator.check(frame)
    except RequestError as err:
        return err


@pytest.mark.parametrize("case", sorted(PAYLOADS))
def test_the_fast_path_takes_a_request_only_when_the_general_path_accepts_it_as_it_is(case: str) -> None:
    validator = Validator([Column(n, "double", True) for n in NAMES])
    payload = json.loads(json.dumps(PAYLOADS[case]))  # what the gateway decodes
    fast = validator.array(payload)
    general = _general(validator, payload)
    if fast is None:
        # everything the fast path declines still gets its answer (a frame or a 4xx naming the problem)
        assert case not in {"split", "instances", "inputs", "whole numbers"}
        return
    assert isinstance(general, pd.DataFrame), f"{case}: the fast path took what the general path refuses"
    assert fast.dtype == np.float64 and fast.shape == general.shape
    assert np.array_equal(fast, general.to_numpy(dtype=np.float64))


def test_the_fast_path_is_off_with_a_data_contract_or_non_double_inputs() -> None:
    payload = PAYLOADS["instances"]
    assert Validator([Column(n, "double", True) for n in NAMES], contract=object()).array(payload) is None
    assert Validator([Column(n, "long", True) for n in NAMES]).array(payload) is None
    assert Validator([Column(n, "double", False) for n in NAMES]).array(payload) is None  # nulls allowed: general


def _saved(model: Any, folder: Path) -> Any:
    x, _ = tiny_training_data()
    mlflow.sklearn.save_model(model, str(folder), input_example=x.head(2))
    return mlflow.pyfunc.load_model(str(folder))


def test_scikit_learn_takes_the_array_only_when_it_answers_the_same(tmp_path: Path) -> None:
    x, y = tiny_training_data()
    plain = _saved(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y), tmp_path / "plain")
    predict = array_predictor(plain, list(x.columns))
    assert predict is not None
    assert np.array_equal(predict(x.to_numpy()), plain.predict(x))  # same answers, no DataFrame

    by_name = ColumnTransformer([("scale", StandardScaler(), ["petal_length", "petal_width"])])
    selective = _saved(make_pipeline(by_name, LogisticRegression()).fit(x, y), tmp_path / "by-name")
    assert array_predictor(selective, list(x.columns)) is None  # selects columns by name: needs the DataFrame
    reordered = list(x.columns)[::-1]
    assert array_predictor(plain, reordered) is None  # fitted on other column order: the DataFrame call stays


def test_a_plain_linear_model_is_predicted_by_its_own_product_with_the_same_answers() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 4)) * [1.0, 10.0, 0.1, 100.0]
    rows = rng.normal(size=(50, 4)) * [1.0, 10.0, 0.1, 100.0]
    labels = np.where(x[:, 0] + x[:, 1] / 10 > 0, "yes", "no")
    cases = [
        LogisticRegression(max_iter=2000).fit(x, (x[:, 0] > 0).astype(int)),  # binary: one score column
        LogisticRegression(max_iter=2000).fit(x, np.digitize(x[:, 0], [-0.5, 0.5])),  # three classes
        LinearSVC().fit(x, labels),  # string classes
        Ridge().fit(x, x @ [1.0, 2.0, 3.0, 4.0]),  # regression, one target
        LinearRegression().fit(x, np.c_[x[:, 0], x[:, 1]]),  # two targets
    ]
    for estimator in cases:
        predict = linear_predict(estimator, 4)
        assert predict is not None, type(estimator).__name__
        for chunk in (rows[:1], rows[:7], rows):
            assert np.array_equal(predict(chunk), estimator.predict(chunk)), type(estimator).__name__

    class Shifted(LinearRegression):  # a subclass with its own predict keeps scikit-learn's call
        def predict(self, X: Any) -> Any:
            return super().predict(X) + 1

    assert linear_predict(Shifted().fit(x, x[:, 0]), 4) is None
    assert linear_predict(LogisticRegression().fit(x[:, :3], x[:, 0] > 0), 4) is None  # other width
