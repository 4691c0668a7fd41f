"""`evaluate` from a small driver: the window's rows stay on the executors.

It collected every row's label, score, date, card and pattern (`toArrow`, ~50 bytes a row
serialised, ~650 in the driver's Python): 60,000 rows past `spark.driver.maxResultSize: 1m`
failed with Spark's "Total size of serialized results of 2 tasks (3.1 MiB) is bigger than
spark.driver.maxResultSize (1024.0 KiB)" (a Py4JJavaError), so a year of a bank's rows
needed a driver as large as the window. Now the driver receives per-date and per-partition
sums (fraud_app.evaluation.spark_window). Real Spark: the tests' session with its live
conf's cap lowered to 1 MiB for the test (tests/result_cap.py; it was a child process with
a JVM of its own, ~90 s of start-up for the same check).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from py4j.protocol import Py4JJavaError
from pyspark.sql import functions as F

from dlcore.layers import Linear, Sequential
from dlcore.model import Model
from fraud_app.config import load_config
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.evaluate import run_evaluation
from tests.result_cap import result_cap

pytestmark = pytest.mark.spark
NAMES = ["card_seconds_since_prev", "amount_log1p"]
ROWS = 60_000  # ~3 MiB of rows collected, three times the cap


def test_a_window_larger_than_the_drivers_result_cap_is_evaluated(spark, tmp_path):
    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False})
    defs = definitions(feature_set_from_config(config.features), NAMES)
    model = Model(Sequential([Linear(1)]), in_features=2, seed=0)
    FraudEnsemble([model], NAMES, {"features": {"definitions": defs}}).save(tmp_path / "m")
    table = tmp_path / "features"
    spark.range(ROWS).select(
        F.format_string("card-%08d", F.col("id") % 5000).alias("card_id"),
        F.date_add(F.lit(dt.date(2024, 1, 1)), (F.col("id") % 10).cast("int")).alias("event_date"),
        (F.rand(1) < 0.05).cast("double").alias("label"),
        F.rand(2).alias(NAMES[0]),
        F.rand(3).alias(NAMES[1]),
        F.lit("card_testing").alias("fraud_pattern"),
    ).write.parquet(str(table))
    entries = [{"name": n, "fill": 0.0, **defs[n]} for n in NAMES]
    meta = {"feature_names": NAMES, "label_delay_days": 7.0, "features": entries}
    (table / "_features.json").write_text(json.dumps(meta))
    with result_cap(spark, "1m"):
        with pytest.raises(Py4JJavaError, match="bigger than spark.driver.maxResultSize"):
            spark.read.parquet(str(table)).toArrow()  # the cap holds: a collect of the rows fails
        report, _ = run_evaluation(spark, config, model_uri=str(tmp_path / "m"),
                                   start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 10))  # fmt: skip
    assert (report["rows"], report["days"]) == (ROWS, 10)
