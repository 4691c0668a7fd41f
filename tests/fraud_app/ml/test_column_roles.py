"""Column params that name one column twice, and validationIndicatorCol text that is neither
true nor false: one SchemaError naming the params / the value, before any training (they
failed with Spark's AMBIGUOUS_REFERENCE and CAST_INVALID_INPUT errors, JVM traces)."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError
from fraud_app.ml import BalancedBaggingClassifier, DlcoreClassifier
from tests.fraud_app.ml.conftest import FAST

pytestmark = pytest.mark.spark


@pytest.mark.parametrize(
    "params, message",
    [
        ({"weightCol": "label"}, r"labelCol and weightCol both name column 'label'"),
        ({"validationIndicatorCol": "label"},
         r"labelCol and validationIndicatorCol both name column 'label'"),
        ({"weightCol": "w", "validationIndicatorCol": "w"},
         r"weightCol and validationIndicatorCol both name column 'w'"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("estimator", [DlcoreClassifier, BalancedBaggingClassifier])
def test_one_column_for_two_params_is_named(array_df, estimator, params, message):
    df = array_df.withColumn("w", F.lit(1.0))
    with pytest.raises(SchemaError, match=rf"^{estimator.__name__}\.fit: {message}; each needs"):
        estimator(**FAST, **params).fit(df)


def test_validation_indicator_text_that_is_no_boolean_is_named(array_df):
    df = array_df.withColumn("v", F.when(F.col("id") % 4 == 0, "maybe").otherwise("no"))
    with pytest.raises(
        SchemaError,
        match=r"^DlcoreClassifier\.fit: validationIndicatorCol 'v' holds 'maybe', which is "
        r"neither true nor false; expected true/false, yes/no",
    ):
        DlcoreClassifier(**FAST, validationIndicatorCol="v").fit(df)


def test_a_validation_indicator_of_another_type_is_named(array_df):
    df = array_df.withColumn("v", F.array(F.lit(1)))
    with pytest.raises(
        SchemaError,
        match=r"validationIndicatorCol 'v' must be boolean, numeric or text such as true/false\. "
        r"Received array<int>",
    ):
        DlcoreClassifier(**FAST, validationIndicatorCol="v").fit(df)


def test_integer_arrays_train_and_score_as_the_same_numbers_in_floats(spark, array_df):
    # before: refused ("must be a Spark ML vector or array<float|double>. Received array<int>;
    # use ... F.array(...)", which builds the same array<int> again)
    ints = array_df.withColumn(
        "features", F.transform("features", lambda v: F.round(v * 10).cast("int"))
    )
    floats = ints.withColumn("features", F.col("features").cast("array<float>"))
    a = DlcoreClassifier(**FAST).fit(ints)
    b = DlcoreClassifier(**FAST).fit(floats)
    np.testing.assert_array_equal(a.weights, b.weights)
    p_int = [r[0][1] for r in a.transform(ints).select("probability").collect()]
    p_float = [r[0][1] for r in a.transform(floats).select("probability").collect()]
    assert p_int == p_float


def test_a_double_beyond_float32_is_named_as_such(spark):
    # before: "holds 1 null, NaN or infinite values" for a finite 1e300 (float32 overflows it)
    rows = [([1e300 if i == 5 else float(i % 7), 1.0], float(i % 2)) for i in range(40)]
    df = spark.createDataFrame(rows, "features array<double>, label double")
    with pytest.raises(
        SchemaError,
        match=r"holds 1 null, NaN or infinite values \(features are float32: a number beyond "
        r"\+-3\.4e38, such as 1e300, is infinite too\)",
    ):
        DlcoreClassifier(**FAST).fit(df)


def test_a_pandas_frame_is_named_by_fit_and_transform(fitted):
    import pandas as pd

    pdf = pd.DataFrame({"features": [np.zeros(4)] * 4, "label": [0.0, 1.0] * 2})
    # before: AttributeError "'DataFrame' object has no attribute 'schema'"
    expected = r"needs a Spark DataFrame; received pandas\.core\.frame\.DataFrame \(convert it: "
    with pytest.raises(SchemaError, match=rf"^DlcoreClassifier\.fit {expected}"):
        DlcoreClassifier(**FAST).fit(pdf)
    with pytest.raises(SchemaError, match=rf"^DlcoreClassificationModel\.transform {expected}"):
        fitted.transform(pdf)
