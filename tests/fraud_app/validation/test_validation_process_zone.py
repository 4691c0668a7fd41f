"""Great Expectations checks in a Python process whose zone is not UTC (TZ=Asia/Kolkata,
an analyst's laptop; session 25 probes). PySpark hands GX the newest timestamp as local
time and reads GX's datetime bounds as local time: the freshness check of a table whose
newest row is an hour old failed as "in the future" (observed 5:30 h late), and failing
rows' times were shown in local time. Real Spark, real GX."""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.config import load_config
from fraud_app.validation.validate import validate_canonical

pytestmark = pytest.mark.spark
SCHEMA = (
    "transaction_id string, card_id string, merchant_id string, timestamp timestamp, "
    "amount double, label int, label_time timestamp, mcc string, channel string, "
    "country string, card_country string, device_id string, fraud_pattern string"
)
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _table(spark):
    """40 hourly rows, the newest 2024-01-02 15:00 UTC; t007's label_time an hour before
    its timestamp (2024-01-01 07:00 UTC)."""
    rows = []
    for i in range(40):
        ts = T0 + dt.timedelta(hours=i)
        lt = ts - dt.timedelta(hours=1) if i == 7 else ts + dt.timedelta(days=3)
        rows.append((f"t{i:03d}", f"c{i % 5}", f"m{i % 3}", ts, 10.0 + i, int(i % 20 == 0), lt,
                     "5411", ["POS", "ECOM", "ATM"][i % 3], "CN", "CN", None, None))  # fmt: skip
    return spark.createDataFrame(rows, SCHEMA)


def test_freshness_and_examples_are_utc_in_a_process_of_another_zone(
    spark, tmp_path, kolkata_process
):
    canonical = {
        "reference_time": "2024-01-02T16:00:00", "max_staleness_hours": 2,
        "label_rate_min": 0.01, "label_rate_max": 0.2,
        "severities": {"label_time:after_timestamp": "warning"},
    }  # fmt: skip
    cfg = load_config(None, {"paths.root": str(tmp_path),
                             "validation": {"canonical": canonical, "examples": 3}})  # fmt: skip
    report = validate_canonical(spark, _table(spark), cfg)
    results = {r.name: r for r in report.results}
    fresh = results["timestamp:freshness"]
    assert (fresh.success, fresh.observed) == (True, "2024-01-02 15:00:00")
    assert [w.name for w in report.warnings] == ["label_time:after_timestamp"]
    assert results["label_time:after_timestamp"].examples == (
        {"transaction_id": "t007", "label_time": "2024-01-01 06:00:00",
         "timestamp": "2024-01-01 07:00:00"},
    )  # fmt: skip
    late = cfg.model_copy(update={"validation": cfg.validation.model_copy(update={
        "canonical": cfg.validation.canonical.model_copy(
            update={"reference_time": dt.datetime(2024, 1, 2, 18, 0, 1)})})})  # fmt: skip
    stale = {r.name: r for r in validate_canonical(spark, _table(spark), late).results}
    assert stale["timestamp:freshness"].success is False  # 3 h and 1 s old: stale
