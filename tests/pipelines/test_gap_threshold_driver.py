"""The alert threshold of the test gap is computed where its rows are scored (session 42):
`train` collected the saved model's score of every row of the gap (the label delay's whole
traffic, labelled or not: 8 bytes a row, 2.4 GB for 3 x 10^8 rows) to take one quantile.
Now the driver receives the gap's count and the ceil(b x rows)-th highest score: the same
threshold (test_threshold_rows.py checks it through save_final). Real Spark; the bytes of
task results the driver received, from Spark's own status store."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.scoring.reference import alert_threshold
from pipelines.training import nodes, threshold
from tests.pipelines.test_threshold_rows import _ensemble

pytestmark = pytest.mark.spark
START = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
GAP_ROWS = 100_000  # 800 KB of scores
BUDGET = 0.02


def _result_bytes(spark) -> int:
    """The bytes of task results sent to the driver by every stage so far."""
    jvm = spark._jvm
    stages = spark._jsc.sc().statusStore().stageList(
        jvm.java.util.ArrayList(), False, False,
        spark._sc._gateway.new_array(jvm.double, 0), jvm.java.util.ArrayList(),
    )  # fmt: skip
    return sum(stages.apply(i).resultSize() for i in range(stages.size()))


def test_the_gap_threshold_reaches_the_driver_as_one_number(spark):
    seconds = F.col("id") * F.lit(3)  # 100,000 rows over 3.5 days
    table = spark.range(0, GAP_ROWS, 1, 2).select(
        F.timestamp_seconds(F.lit(int(START.timestamp())) + seconds).alias("timestamp"),
        F.array((F.col("id") % 97).cast("float"), F.rand(3).cast("float")).alias("features"),
    )
    end = START + dt.timedelta(days=30)
    windows = [None, SimpleNamespace(start=START, end=START), SimpleNamespace(start=end)]
    splits = SimpleNamespace(windows=windows)
    before = _result_bytes(spark)
    gap = threshold.gap_scores(table, splits, _ensemble(), "features")
    alert_at, info = threshold.choose(gap, lambda: np.zeros(0), splits, BUDGET, refit=False)
    received = _result_bytes(spark) - before
    assert received < 100_000  # was ~800 KB: every row's score (grows with the gap's rows)
    assert (info["window"], info["rows"]) == ("test_gap", GAP_ROWS)
    scores = nodes.score(table, _ensemble(), features_col="features").select("fraud_score")
    collected = scores.toArrow().column(0).to_numpy()
    assert alert_at == alert_threshold(collected, BUDGET)
