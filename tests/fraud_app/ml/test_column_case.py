"""Column params in another case than the DataFrame's columns (session 50, left50b): under
spark.sql.caseSensitive=false (Spark's default) `LogisticRegression(featuresCol="Features")`
reads the column `features`; DlcoreClassifier refused it (`column(s) ['Features'] not
found`). Now every input column param (featuresCol, labelCol, weightCol,
validationIndicatorCol) is resolved as Spark resolves it; a case-sensitive session still
refuses it. Real local Spark, the tests' 300 rows x 4 features."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError
from fraud_app.ml import DlcoreClassifier
from tests.fraud_app.ml.conftest import FAST

pytestmark = pytest.mark.spark

QUICK = {**FAST, "epochs": 1.0, "numWorkers": 1}
EXACT = {"featuresCol": "features", "labelCol": "label", "weightCol": "w",
         "validationIndicatorCol": "val"}  # fmt: skip
OTHER_CASE = {"featuresCol": "Features", "labelCol": "LABEL", "weightCol": "W",
              "validationIndicatorCol": "Val"}  # fmt: skip


def _data(array_df):
    return array_df.withColumn("w", F.when(F.col("id") % 2 == 0, 0.5).otherwise(2.0)).withColumn(
        "val", F.col("id") >= 200
    )


def _probabilities(model, df) -> np.ndarray:
    rows = model.transform(df).orderBy("id").select("probability").collect()
    return np.array([r[0][1] for r in rows])


def test_params_in_another_case_read_the_columns_spark_resolves(array_df):
    df = _data(array_df)
    exact = DlcoreClassifier(**QUICK, **EXACT).fit(df)
    other = DlcoreClassifier(**QUICK, **OTHER_CASE).fit(df)  # refused before
    assert other.getFeaturesCol() == "Features"  # the params as given, as Spark's models
    # the same columns were read: the same model, bit for bit
    np.testing.assert_array_equal(_probabilities(other, df), _probabilities(exact, df))
    scored = other.transform(df)  # featuresCol "Features" reads `features` at transform too
    assert scored.columns[: len(df.columns)] == df.columns


def test_two_params_naming_one_column_in_two_cases_are_refused(array_df):
    # `Label` is the label column: weights would have been the labels
    with pytest.raises(SchemaError, match=r"labelCol and weightCol both name column 'label'"):
        DlcoreClassifier(**QUICK, weightCol="Label").fit(array_df)


def test_a_case_sensitive_session_reads_names_as_written(array_df, spark):
    spark.conf.set("spark.sql.caseSensitive", "true")
    try:
        with pytest.raises(SchemaError, match=r"column\(s\) \['Features'\] not found"):
            DlcoreClassifier(**QUICK, featuresCol="Features").fit(array_df)
    finally:
        spark.conf.unset("spark.sql.caseSensitive")


def test_a_model_s_features_col_in_another_case_reads_the_column(fitted, vector_df):
    model = fitted.copy({fitted.featuresCol: "Features"})  # refused at transform before
    scored = model.transform(vector_df).orderBy("id").select("probability").collect()
    expected = fitted.transform(vector_df).orderBy("id").select("probability").collect()
    assert scored == expected


@pytest.mark.parametrize("name", ["features", "FEATURES"])
def test_two_columns_one_name_apart_in_case_are_ambiguous_as_in_spark(array_df, fitted, name):
    # review50f: `features` beside `Features` in a case-insensitive session: Spark's
    # LogisticRegression refuses both spellings (AMBIGUOUS_COLUMN_OR_FIELD). Here `FEATURES`
    # was "not found" with both columns listed as available, and `features` a JVM
    # AMBIGUOUS_REFERENCE raised from a select inside fit / transform
    twice = array_df.select("*", F.col("features").alias("Features"))
    ambiguous = rf"ambiguous: '{name}' matches columns \['features', 'Features'\]"
    with pytest.raises(SchemaError, match=ambiguous):
        DlcoreClassifier(**QUICK, featuresCol=name).fit(twice)
    with pytest.raises(SchemaError, match=ambiguous):
        fitted.copy({fitted.featuresCol: name}).transform(twice)
