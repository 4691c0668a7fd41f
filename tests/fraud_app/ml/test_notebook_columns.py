"""A notebook's DataFrames: output names already present in another case (Spark resolves
column names ignoring case by default), and features assembled in another order than for
fit. Both were scored without a word: the analyst's column replaced, every row read with
one feature as another."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError
from fraud_app.scoring.batch import ScoringOptions, score_dataframe

pytestmark = pytest.mark.spark
CASE = "spark.sql.caseSensitive"


@pytest.mark.parametrize("column", ["Prediction", "PROBABILITY", "rawprediction"])
def test_an_output_name_in_another_case_is_refused(fitted, vector_df, column):
    # it replaced the analyst's column (withColumn resolves names ignoring case)
    df = vector_df.withColumn(column, F.lit("analyst's own"))
    with pytest.raises(SchemaError, match=rf"output column\(s\) \['{column}'\] already exist"):
        fitted.transform(df)


def test_in_a_case_sensitive_session_both_columns_are_kept(spark, fitted, vector_df):
    spark.conf.set(CASE, "true")
    try:
        out = fitted.transform(vector_df.withColumn("Prediction", F.lit("mine")))
        assert out.select("Prediction").distinct().collect()[0][0] == "mine"
        assert out.select("prediction").count() == 300
    finally:
        spark.conf.unset(CASE)


def test_output_params_that_differ_in_case_only_are_refused(fitted, vector_df):
    with pytest.raises(SchemaError, match="must be different names"):
        fitted.copy({fitted.predictionCol: "Probability"}).transform(vector_df)


@pytest.mark.parametrize("column", ["fraud_score", "FRAUD_SCORE", "alert"])
def test_score_dataframe_refuses_a_frame_holding_an_output_name(fitted, array_df, column):
    # the select kept both: two columns of one name, the next read AMBIGUOUS_REFERENCE
    df = array_df.withColumn(column, F.lit(-1.0))
    with pytest.raises(SchemaError, match=rf"already has column\(s\) \['{column}'\]"):
        score_dataframe(df, fitted.ensemble, options=ScoringOptions(threshold=0.5))


def test_features_assembled_in_another_order_are_refused(fitted, raw_df, vector_df):
    swapped = VectorAssembler(inputCols=list("bacd"), outputCol="features").transform(raw_df)
    with pytest.raises(SchemaError, match=r"in another order \(2 of 4 moved\): \['b', 'a'"):
        fitted.transform(swapped)
    # other names (renamed inputs) are not judged; the training order scores as before
    renamed = raw_df.withColumnRenamed("a", "a2")
    other = VectorAssembler(inputCols=["a2", "b", "c", "d"], outputCol="features")
    got = fitted.transform(other.transform(renamed)).select("probability").collect()
    want = fitted.transform(vector_df).select("probability").collect()
    assert np.allclose([r[0][1] for r in got], [r[0][1] for r in want])
