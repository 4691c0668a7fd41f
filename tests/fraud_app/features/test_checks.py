"""Feature checks on the training window: constant and near-constant features are named."""

from __future__ import annotations

import logging

import pytest

from fraud_app.errors import SchemaError
from fraud_app.features.checks import constant_features

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
