"""Null vectors and null array elements in the features column, fit and transform alike:
one error naming the column (a null vector failed inside Spark's vector_to_array with a JVM
error naming no column; a null element was called 'NaN or infinite')."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError
from fraud_app.ml import DlcoreClassifier
from tests.fraud_app.ml.conftest import FAST

pytestmark = pytest.mark.spark


def _null_vector(df):
    return df.withColumn("features", F.when(F.col("id") != 5, F.col("features")))


def _null_element(array_df):
    first = F.when(F.col("id") != 5, F.col("features")[0])
    return array_df.withColumn(
        "features", F.array(first, *[F.col("features")[i] for i in (1, 2, 3)])
    )


def test_a_null_vector_is_named_by_transform(fitted, vector_df):
    """At the action, from the scoring task (no extra Spark job in transform), with the
    column, the count and what to do."""
    with pytest.raises(Exception, match=r"DlcoreClassificationModel\.transform: features "
                       r"column 'features' has 1 null row\(s\) in one batch of \d+ rows; drop or "
                       r"impute them \(e\.g\. df\.na\.drop\(subset=\['features'\]\)\)"):  # fmt: skip
        fitted.transform(_null_vector(vector_df)).select("probability").collect()


def test_null_elements_and_nan_are_told_apart_by_transform(fitted, vector_df, array_df):
    with pytest.raises(Exception, match=r"features column 'features' holds 1 null element\(s\) "
                       r"in one batch of \d+ rows; impute them"):  # fmt: skip
        fitted.transform(_null_element(array_df)).collect()
    nan = array_df.withColumn(
        "features", F.when(F.col("id") == 9, F.array(*[F.lit(float("inf"))] * 4).cast("array<float>"))
        .otherwise(F.col("features")),
    )  # fmt: skip
    with pytest.raises(Exception, match=r"holds 4 NaN or infinite value\(s\) in one batch"):
        fitted.transform(nan).collect()
    # rows that are not null pass and keep their count
    assert fitted.transform(_null_vector(vector_df).na.drop(subset=["features"])).count() == 299


def test_a_null_vector_is_named_by_fit(vector_df, array_df):
    """fit: the trainer's data pass names it as for an array column (a JVM error before)."""
    with pytest.raises(SchemaError, match=r"features column 'features' has 1 null rows; drop or "
                       "impute them"):  # fmt: skip
        DlcoreClassifier(**FAST).fit(_null_vector(vector_df))
    with pytest.raises(SchemaError, match=r"'features' holds 1 null, NaN or infinite values"):
        DlcoreClassifier(**FAST).fit(_null_element(array_df))


def _nan_row(vector_df):
    from pyspark.ml.functions import array_to_vector, vector_to_array

    arr = vector_to_array(F.col("features"))
    first = F.when(F.col("id") != 5, arr[0]).otherwise(F.lit(float("nan")))
    return vector_df.withColumn("features", array_to_vector(F.array(first, arr[1], arr[2], arr[3])))


def test_task_errors_raises_the_scorers_error_itself_around_an_action(fitted, vector_df):
    """In a notebook: the SchemaError, one line, instead of a PythonException whose first
    line is 'An exception was thrown from the Python worker:'."""
    from fraud_app.ml import task_errors

    with pytest.raises(SchemaError) as info, task_errors():
        fitted.transform(_nan_row(vector_df)).select("probability").collect()
    assert str(info.value).startswith(
        "DlcoreClassificationModel.transform: features column 'features' holds 1 NaN or "
        "infinite value(s) in one batch of"
    )
    assert "\n" not in str(info.value)


def test_fit_on_a_transform_that_fails_raises_the_scorers_error(fitted, vector_df):
    """Stacking: fit's own actions run the first model's scorer; its error was a
    PythonException out of fit."""
    from pyspark.ml.functions import vector_to_array

    stacked = fitted.transform(_nan_row(vector_df)).select(
        "label", F.array(vector_to_array("probability")[1]).alias("features")
    )
    with pytest.raises(SchemaError, match=r"^DlcoreClassificationModel\.transform: features "
                       r"column 'features' holds 1 NaN or infinite value\(s\)"):  # fmt: skip
        DlcoreClassifier(**FAST).fit(stacked)
