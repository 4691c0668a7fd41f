"""The scoring summary's partial sums reach the driver once per partition and date, not once
per Arrow batch and date (session 31 probe): 10,000-row batches of a year of a bank's rows
were ~10^4-10^5 partials of ~6 KB each at 50 features, growing with the rows. The figures
are those of per-batch partials: counts exact, sums to rounding. Real Spark, the job's own
scorer and summary."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from fraud_app.scoring.batch import ScoringOptions, score_dataframe
from fraud_app.scoring.summary import _partials, date_summaries
from tests.fraud_app.scoring.test_batch_spark import NAMES, _ensemble

pytestmark = pytest.mark.spark
REFERENCE = {"feature_edges": [[0.0, 5.0], [0.0, 6.0, 12.0], [0.5], [0.5]], "score_edges": [0.5]}


def _rows():
    return [
        (dt.date(2024, 3, 1 + i % 3), [float(i % 9), float(i % 24), 1.0, float(i % 2)])
        for i in range(600)
    ]


def test_one_partial_per_date_of_a_partition(spark):
    df = spark.createDataFrame(_rows(), "event_date date, features array<float>").coalesce(1)
    scored = score_dataframe(df, _ensemble(), options=ScoringOptions(threshold=0.5))
    table = scored.select("event_date", "features", "fraud_score", "alert").toArrow()
    batches = table.to_batches(max_chunksize=50)  # 12 batches, each holding the 3 dates
    out = list(_partials("features", "fraud_score", REFERENCE["feature_edges"], [0.5], None)(
        iter(batches)
    ))  # fmt: skip
    assert sum(b.num_rows for b in out) == 3  # was 36: one per batch and date
    got = pa.Table.from_batches(out).to_pylist()
    assert sorted(r["rows"] for r in got) == [200, 200, 200]


def test_the_figures_do_not_depend_on_the_arrow_batch_size(spark):
    df = spark.createDataFrame(_rows(), "event_date date, features array<float>").repartition(2)
    scored = score_dataframe(df, _ensemble(), options=ScoringOptions(threshold=0.5)).cache()
    try:
        whole = date_summaries(scored, NAMES, REFERENCE)
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "7")
        small = date_summaries(scored, NAMES, REFERENCE)
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
        scored.unpersist()
    assert [d["rows"] for d in small] == [200, 200, 200]
    for a, b in zip(whole, small, strict=True):
        assert a["mean_score"] == pytest.approx(b["mean_score"], rel=1e-12)
        for name in NAMES:
            fa, fb = a["features"][name], b["features"][name]
            assert fa["counts"] == fb["counts"] and fa["mean"] == pytest.approx(fb["mean"])
