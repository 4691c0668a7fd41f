"""A validation window past `spark.driver.maxResultSize` is one ConfigError that names the
window, the cap and the ways out (early stopping collects it to the driver: it was Spark's
"Total size of serialized results ..." inside a Py4JJavaError). Real Spark in its own
process: the cap is fixed when the JVM starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent(
    """
    from pyspark.sql import functions as F
    from fraud_app.errors import ConfigError
    from fraud_app.spark.validation_rows import collect_validation
    from fraud_app.spark.session import get_spark

    spark = get_spark("local[2]", "result-cap", {"spark.driver.maxResultSize": "1m",
                                                 "spark.ui.enabled": "false"})
    df = spark.range(60000).select(
        F.array(*[F.rand(i).cast("float") for i in range(20)]).alias("features"),
        (F.rand(99) < 0.05).cast("double").alias("label"),
    )
    small = collect_validation(df.limit(100), features_col="features", label_col="label")
    print("SMALL", small.rows)
    sample = collect_validation(df, features_col="features", label_col="label", max_rows=3000)
    print("SAMPLE", sample.rows < 4000, int(sample.y.sum()) > 0, round(float(sample.w.sum()), -4))
    try:
        collect_validation(df, features_col="features", label_col="label")
    except ConfigError as exc:
        print("ERROR", exc)
    """
)


def test_a_validation_window_past_the_drivers_result_cap_is_named(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SMALL 100" in done.stdout
    # early_stopping.max_rows: a weighted sample of the same window fits under the cap
    assert "SAMPLE True True 60000.0" in done.stdout
    [line] = [x for x in done.stdout.splitlines() if x.startswith("ERROR")]
    assert re.fullmatch(
        r"ERROR the validation window does not fit on the driver: its first \d+ tasks' results "
        r"came to [\d.]+ [KM]iB, past spark\.driver\.maxResultSize \(1024\.0 KiB\)\. Early "
        r"stopping scores the validation rows on the driver: give it a shorter validation "
        r"window \(splits\.validation_days; .*\), a smaller "
        r"training\.distributed\.early_stopping\.max_rows \(it scores a weighted sample of a "
        r"larger window\), or a larger spark\.driver\.maxResultSize and "
        r"spark\.driver\.memory \(spark\.conf in the config, or --conf at spark-submit\)",
        line,
    ), line
