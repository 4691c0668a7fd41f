"""Feature checks on the training window: constant and near-constant features are named."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from fraud_app.errors import SchemaError
from fraud_app.features.checks import constant_features, in_sample

pytestmark = pytest.mark.spark


def test_constant_and_near_constant_features_are_warned_about(spark, caplog):
    rows = [(1.0, float(i < 3), float(i % 10), float(i < 200)) for i in range(1000)]
    df = spark.createDataFrame(rows, "a double, b double, c double, d double")
    with caplog.at_level(logging.WARNING, logger="fraud_app.features.checks"):
        found = constant_features(df, ["a", "b", "c", "d"])
    # a: one value; b: 99.7 % zeros; c: ten values; d: 20 % ones (informative)
    assert found == {"constant": ["a"], "near_constant": ["b"]}
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "['a']" in warned[0] and "['b']" in warned[0]
    assert constant_features(df, ["c", "d"]) == {"constant": [], "near_constant": []}


def test_features_only_in_the_vector_are_checked_from_it(spark):
    rows = [([1.0, float(i < 3), float(i % 10)],) for i in range(1000)]
    df = spark.createDataFrame(rows, "features array<double>")
    found = constant_features(df, ["a", "b", "c"], vector_column="features")
    assert found == {"constant": ["a"], "near_constant": ["b"]}


def test_a_feature_in_neither_a_column_nor_the_vector_is_a_clear_error(spark):
    df = spark.createDataFrame([(1.0,)], "x double")
    with pytest.raises(SchemaError, match=r"neither a column `a` nor the vector column 'features'"):
        constant_features(df, ["a"], vector_column="features")


def test_near_constant_on_a_sample_finds_the_same_features(spark):
    rows = [(1.0, float(i < 9), float(i % 10), float(i < 600)) for i in range(3000)]
    df = spark.createDataFrame(rows, "a double, b double, c double, d double")
    full = constant_features(df, ["a", "b", "c", "d"])
    sampled = constant_features(df, ["a", "b", "c", "d"], rows=3000, sample_rows=1000)
    assert full == sampled == {"constant": ["a"], "near_constant": ["b"]}
    # min / max stay exact on every row: one value out of 3000 is not "constant"
    rare = [(float(i == 1234),) for i in range(3000)]
    found = constant_features(
        spark.createDataFrame(rare, "e double"), ["e"], rows=3000, sample_rows=100
    )
    assert found == {"constant": [], "near_constant": ["e"]}


def test_the_sample_is_about_the_fraction_and_the_same_rows_in_any_order():
    X = np.random.default_rng(0).normal(size=(50_000, 6))
    X[::7, 2] = np.nan  # nulls hash like any value
    picked = in_sample(X, 0.1)
    assert 4_700 < picked.sum() < 5_300
    order = np.random.default_rng(1).permutation(len(X))
    np.testing.assert_array_equal(in_sample(X[order], 0.1), picked[order])
    assert in_sample(X, 1.0).all()


def test_an_all_null_feature_is_constant(spark):
    rows = [(None, float(i % 3)) for i in range(50)]
    df = spark.createDataFrame(rows, "a double, b double")
    assert constant_features(df, ["a", "b"]) == {"constant": ["a"], "near_constant": []}


def test_a_value_at_the_edge_of_the_range_holding_99_2_percent_is_near_constant(spark):
    # a rate that is 0 on 99.2 % of the rows: its 99.5 % quantile is not 0, yet one
    # value holds >= 99 % of the rows, as the warning says
    rows = [(float(i >= 992) * 0.3,) for i in range(1000)]
    df = spark.createDataFrame(rows, "rate double")
    assert constant_features(df, ["rate"]) == {"constant": [], "near_constant": ["rate"]}
    assert constant_features(df, ["rate"], share=0.995)["near_constant"] == []


def test_a_rare_value_that_holds_the_frauds_is_not_called_uninformative(spark, caplog):
    """Fraud is rare, so a risk feature is 0 on almost every row: with the labels, a
    near-constant feature whose other rows are richer in frauds than the window is left
    out of the warning (logged at INFO); one whose other rows hold no more frauds than
    their share is still warned about; without labels both are near-constant."""
    n = 2000
    label = [float(i % 100 == 0) for i in range(n)]  # 1 % fraud
    risk = [0.4 if i % 100 == 0 and i < 1200 else 0.0 for i in range(n)]  # 0.6 %: frauds
    noise = [float(i % 100 == 50 and i < 1200) for i in range(n)]  # 0.6 %: no fraud
    amount = [float(i) for i in range(n)]  # distinct rows, so the hashed sample is a sample
    df = spark.createDataFrame(
        list(zip(risk, noise, amount, label, strict=True)),
        "risk double, noise double, amount double, label double",
    )
    names = ["risk", "noise", "amount"]
    assert constant_features(df, names) == {
        "constant": [],
        "near_constant": ["risk", "noise"],
    }
    with caplog.at_level(logging.INFO, logger="fraud_app.features.checks"):
        found = constant_features(df, names, label_column="label")
    assert found == {"constant": [], "near_constant": ["noise"]}
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("near-constant but informative" in m and "['risk']" in m for m in info)
    # sampled: the label does not move the sample, and the answer is the same
    sampled = constant_features(df, names, label_column="label", rows=n, sample_rows=1500)
    assert sampled == found
