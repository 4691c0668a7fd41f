"""A validation window past `spark.driver.maxResultSize` is one ConfigError that names the
window, the cap and the ways out (early stopping collects it to the driver: it was Spark's
"Total size of serialized results ..." inside a Py4JJavaError). Real Spark: the tests'
session with its live conf's cap lowered to 1 MiB for the test (tests/result_cap.py; it was
a child process with a JVM of its own, ~90 s of start-up at load 20 for the same check)."""

from __future__ import annotations

import re

import pytest
from py4j.protocol import Py4JJavaError
from pyspark.sql import functions as F

from fraud_app.errors import ConfigError
from fraud_app.spark.validation_rows import collect_validation
from tests.result_cap import result_cap

pytestmark = pytest.mark.spark


def test_a_validation_window_past_the_drivers_result_cap_is_named(spark):
    df = spark.range(60000).select(
        F.array(*[F.rand(i).cast("float") for i in range(20)]).alias("features"),
        (F.rand(99) < 0.05).cast("double").alias("label"),
    )
    with result_cap(spark, "1m"):
        with pytest.raises(Py4JJavaError, match="bigger than spark.driver.maxResultSize"):
            df.toArrow()  # the cap holds: a collect of the rows fails
        small = collect_validation(df.limit(100), features_col="features", label_col="label")
        # early_stopping.max_rows: a weighted sample of the same window fits under the cap
        sample = collect_validation(df, features_col="features", label_col="label", max_rows=3000)
        with pytest.raises(ConfigError) as caught:
            collect_validation(df, features_col="features", label_col="label")
    assert small.rows == 100
    assert sample.rows < 4000 and int(sample.y.sum()) > 0
    assert round(float(sample.w.sum()), -4) == 60000.0
    line = str(caught.value)
    assert re.fullmatch(
        r"the validation window does not fit on the driver: its first \d+ tasks' results "
        r"came to [\d.]+ [KM]iB, past spark\.driver\.maxResultSize \(1024\.0 KiB\)\. Early "
        r"stopping scores the validation rows on the driver: give it a shorter validation "
        r"window \(splits\.validation_days; .*\), a smaller "
        r"training\.distributed\.early_stopping\.max_rows \(it scores a weighted sample of a "
        r"larger window\), or a larger spark\.driver\.maxResultSize and "
        r"spark\.driver\.memory \(spark\.conf in the config, or --conf at spark-submit\)",
        line,
    ), line
