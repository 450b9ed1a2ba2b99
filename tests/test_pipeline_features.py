"""Unit tests of the example's feature transforms, as a user's own project would have them.

The training pipeline runs this file with pytest and attaches the JUnit XML to its MLflow run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlgate.contracts import load_contract
from pipelines import data, features
from pipelines.train import CONTRACT


@pytest.fixture(scope="module")
def contract():
    return load_contract(CONTRACT)


@pytest.fixture(scope="module")
def training_frame() -> pd.DataFrame:
    training, _ = data.split(data.builtin_source())
    return training


@pytest.fixture(scope="module")
def transform(contract, training_frame):
    return features.build_transform(contract).fit(training_frame[data.FEATURES])


def one_row(training_frame: pd.DataFrame, **values: object) -> pd.DataFrame:
    row = training_frame[data.FEATURES].head(1).astype(object).copy()
    for column, value in values.items():
        row[column] = [value]
    return row


def block(transform, column: str) -> list[int]:
    """Positions of the output columns made from one input column."""
    names = list(transform.get_feature_names_out())
    return [i for i, n in enumerate(names) if n == column or n.startswith(column + "_")]


def test_output_is_a_dense_float_matrix_without_nulls(transform, training_frame):
    out = transform.transform(training_frame[data.FEATURES])
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    assert out.shape == (len(training_frame), len(data.NUMERIC) + 3 + 3)
    assert not np.isnan(out).any()


def test_output_columns_follow_the_contract_order(transform, contract):
    names = list(transform.get_feature_names_out())
    assert names[: len(data.NUMERIC)] == [c.name for c in contract.columns if c.numeric]
    assert names[len(data.NUMERIC) :] == [
        "size_band_small", "size_band_medium", "size_band_large",
        "shape_irregularity_regular", "shape_irregularity_moderate", "shape_irregularity_irregular",
    ]  # fmt: skip


def test_input_column_order_and_extra_columns_do_not_change_the_output(transform, training_frame):
    frame = training_frame[data.FEATURES]
    shuffled = frame[list(reversed(data.FEATURES))].assign(unrelated=1.0, sample_id=7)
    assert np.array_equal(transform.transform(frame), transform.transform(shuffled))


def test_a_missing_input_column_is_an_error_not_a_silent_zero(transform, training_frame):
    with pytest.raises(ValueError, match="mean_radius"):
        transform.transform(training_frame[data.FEATURES].drop(columns=["mean_radius"]))


@pytest.mark.parametrize("column", data.NUMERIC)
def test_a_numeric_null_is_imputed_with_the_contracts_value(transform, training_frame, contract, column):
    policy = contract.column(column).on_null
    assert policy.action == "impute"
    with_null = transform.transform(one_row(training_frame, **{column: np.nan}))
    with_value = transform.transform(one_row(training_frame, **{column: policy.value}))
    assert np.array_equal(with_null, with_value)


@pytest.mark.parametrize("null", [None, np.nan])
def test_a_categorical_null_follows_the_contract(transform, training_frame, contract, null):
    # size_band: on_null imputes "medium"; shape_irregularity is nullable: a null encodes as no level.
    assert contract.column("size_band").on_null.value == "medium"
    imputed = transform.transform(one_row(training_frame, size_band=null))
    medium = transform.transform(one_row(training_frame, size_band="medium"))
    assert np.array_equal(imputed, medium)
    out = transform.transform(one_row(training_frame, shape_irregularity=null))
    assert out[0, block(transform, "shape_irregularity")].tolist() == [0.0, 0.0, 0.0]


def test_an_unseen_category_encodes_as_no_level_instead_of_failing(transform, training_frame):
    out = transform.transform(one_row(training_frame, size_band="enormous", shape_irregularity="spiky"))
    assert out[0, block(transform, "size_band")].tolist() == [0.0, 0.0, 0.0]
    assert out[0, block(transform, "shape_irregularity")].tolist() == [0.0, 0.0, 0.0]
    assert not np.isnan(out).any()


def test_categories_come_from_the_contract_even_when_training_lacks_one(contract, training_frame):
    without_large = training_frame[training_frame["size_band"] != "large"]
    fitted = features.build_transform(contract).fit(without_large[data.FEATURES])
    assert "size_band_large" in list(fitted.get_feature_names_out())
    out = fitted.transform(one_row(training_frame, size_band="large"))
    assert out[0, block(fitted, "size_band")].tolist() == [0.0, 0.0, 1.0]


def test_numeric_features_are_standardised_on_training_data(transform, training_frame):
    out = transform.transform(training_frame[data.FEATURES])[:, : len(data.NUMERIC)]
    assert np.allclose(out.mean(axis=0), 0.0, atol=1e-9)
    assert np.allclose(out.std(axis=0), 1.0, atol=1e-9)


def test_the_same_seed_gives_the_same_model_and_another_seed_does_not(contract, training_frame):
    x, y = training_frame[data.FEATURES], training_frame[data.TARGET]

    def proba(seed: int) -> np.ndarray:
        return features.build_model(contract, random_state=seed).fit(x, y).predict_proba(x)

    first = proba(1)
    assert np.array_equal(first, proba(1))
    assert not np.array_equal(first, proba(2))
    assert np.allclose(first.sum(axis=1), 1.0)


def test_the_split_is_stable_and_disjoint():
    source = data.builtin_source()
    training, evaluation = data.split(source)
    assert len(training) + len(evaluation) == len(source)
    assert 0.15 < len(evaluation) / len(source) < 0.35
    # the split depends on ids only: dropping rows keeps every other row on its side
    again_training, _ = data.split(source.iloc[10:])
    assert len(again_training) == len(training) - int((~data.in_evaluation(source[data.ID].iloc[:10])).sum())
