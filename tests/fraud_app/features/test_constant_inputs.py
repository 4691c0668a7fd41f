"""Two silently wrong feature values left after session 21, now explicit:

* `column: amount, transform: log1p` on refunds (negative amounts, kept by the ETL when
  etl.bounds.min_amount < 0): Spark's log1p of -5 is null, so the row got the fill 0.0,
  the value of a zero amount. Now `transform: signed_log1p` (sign(x) * log1p(|x|)) is a
  feature of its own, the compiler warns (counted) about log1p inputs <= -1, and
  `fraud-app features` / `run` refuse log1p of amount before Spark when the ETL's bounds
  keep amounts <= -1. log1p itself is unchanged (existing specs keep their meaning).
* a window whose lag is not shorter than the data's span holds no row for any row: a
  constant feature (0 for a count) written without a word. Now it is skipped and named in
  the one warning that lists the absent / all-null skips, with its lag and the span.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.errors import FeatureSpecError
from fraud_app.features.compile import compute_features
from fraud_app.features.config import FeaturesSection
from fraud_app.features.pipeline import check_feature_specs
from fraud_app.features.row_kinds import ColumnValue
from fraud_app.features.spec import FeatureSet, parse_spec
from fraud_app.features.window_kinds import FraudRate, WindowAggregate
from tests.fraud_app.features.canonical_data import SCHEMA
from tests.fraud_app.features.test_compile import HAND_ROWS, T0

DAY_S = 86_400
AMOUNTS = [-250.0, -5.0, -1.0, -0.5, 0.0, 3.0, 1_000.0]


def _amount_rows():
    return [
        (f"t{i}", "A", "X", T0 + dt.timedelta(hours=i), x, 0, None, "5411", "POS", "FR", "FR", None)
        for i, x in enumerate(AMOUNTS)
    ]


def test_signed_log1p_is_a_spec_transform_of_its_own():
    (entry,) = parse_spec(
        "version: 1\nfeatures:\n  - {kind: column, column: amount, transform: signed_log1p}\n",
        source="s.yaml",
    )
    assert entry.feature.name == "amount_signed_log1p"
    with pytest.raises(FeatureSpecError, match=r"transform input should be 'identity', 'log1p' "
                       r"or 'signed_log1p'"):  # fmt: skip
        parse_spec("version: 1\nfeatures:\n  - {kind: column, column: amount, transform: log}\n",
                   source="s.yaml")  # fmt: skip


@pytest.mark.spark
def test_signed_log1p_keeps_refunds_and_log1p_warns_counting_the_rows_it_cannot_take(spark, caplog):
    df = spark.createDataFrame(_amount_rows(), SCHEMA)
    features = (ColumnValue(column="amount", transform="log1p"),
                ColumnValue(column="amount", transform="signed_log1p"))  # fmt: skip
    fs = FeatureSet(features=features, label_delay_s=7 * DAY_S)
    with caplog.at_level(logging.WARNING, logger="fraud_app.features"):
        result = compute_features(df, fs)
    rows = sorted(result.df.collect(), key=lambda r: r["timestamp"])
    signed = [r["amount_signed_log1p"] for r in rows]
    assert signed == pytest.approx([math.copysign(math.log1p(abs(x)), x) for x in AMOUNTS])
    assert signed[0] < signed[1] < signed[2] < signed[3] < 0 == signed[4] < signed[5]
    logged = [r["amount_log1p"] for r in rows]  # log1p unchanged: the fill below its domain
    assert logged[:3] == [0.0, 0.0, 0.0] and logged[3] == pytest.approx(math.log1p(-0.5))
    assert logged[5:] == pytest.approx([math.log1p(3.0), math.log1p(1_000.0)])
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1, warned
    assert warned[0].startswith(
        "1 log1p feature(s) read values <= -1, where log1p is undefined: amount_log1p (3 of 7 "
        "rows, min -250: written as the fill 0). A column with negative values (refunds) "
        "wants `transform: signed_log1p`"
    )


@pytest.mark.spark
def test_log1p_of_non_negative_amounts_warns_nothing(spark, caplog):
    df = spark.createDataFrame(HAND_ROWS, SCHEMA)
    fs = FeatureSet(features=(ColumnValue(column="amount", transform="log1p"),), label_delay_s=0)
    with caplog.at_level(logging.WARNING, logger="fraud_app.features"):
        assert compute_features(df, fs).feature_names == ("amount_log1p",)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_log1p_of_amount_is_refused_when_the_etl_keeps_amounts_below_minus_one(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "version: 1\nfeatures:\n  - {kind: column, column: amount, transform: log1p}\n"
    )
    cfg = FeaturesSection(spec_dir=str(tmp_path))
    with pytest.raises(FeatureSpecError, match=r"^feature 'amount_log1p' \(column, transform "
                       r"log1p\) takes log1p of amount, but etl.bounds.min_amount is -500: .*"
                       r"Use `transform: signed_log1p`"):  # fmt: skip
        check_feature_specs(cfg, -500.0)
    for ok in (0.0, -0.5, None):  # log1p(-0.5) is defined; None: no bounds to check against
        assert check_feature_specs(cfg, ok).names == ("amount_log1p",)
    own = cfg.model_copy(update={"input": str(tmp_path / "mine")})  # its data decides (warned)
    assert check_feature_specs(own, -500.0).names == ("amount_log1p",)
    (tmp_path / "a.yaml").write_text(
        "version: 1\nfeatures:\n  - {kind: column, column: amount, transform: signed_log1p}\n"
    )
    assert check_feature_specs(cfg, -500.0).names == ("amount_signed_log1p",)


def test_the_features_command_refuses_it_before_spark(tmp_path):
    # the shipped specs hold `column: amount, transform: log1p` (transaction.yaml)
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"paths": {"root": str(tmp_path)}, "tracking": {"enabled": False},
                                  "etl": {"bounds": {"min_amount": -1000}}}))  # fmt: skip
    probe = (
        "import sys; from pipelines.cli import main; rc = main(sys.argv[1:]); "
        "from pyspark import SparkContext; print(rc, SparkContext._active_spark_context is None)"
    )
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run([sys.executable, "-c", probe, "-c", str(config), "features"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.stdout.split() == ["2", "True"], done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "etl.bounds.min_amount is -1000" in errors[0], done.stderr


@pytest.mark.spark
def test_a_lag_not_shorter_than_the_data_is_skipped_and_named_with_the_span(spark, caplog):
    # HAND_ROWS span 8.5 days (2024-01-01 00:00 .. 2024-01-09 12:00)
    features = (
        WindowAggregate(aggregation="count", window="1d", lag="9d"),  # 9d >= 8.5 days
        # 8d < 8.5 days: q3 (merchant M, day 8.5) sees m_f (day 0) in [day -0.5, day 0.5)
        WindowAggregate(entity="merchant", aggregation="count", window="1d", lag="8d"),
        FraudRate(entity="merchant", window="7d"),  # lag = the label delay, 10 days
        WindowAggregate(aggregation="count", window="1h"),
    )
    fs = FeatureSet(features=features, label_delay_s=10 * DAY_S)
    df = spark.createDataFrame(HAND_ROWS, SCHEMA)
    with caplog.at_level(logging.WARNING, logger="fraud_app.features.compile"):
        result = compute_features(df, fs)
    assert result.feature_names == ("merchant_count_1d_lag8d", "card_count_1h")
    span = "8.50 days, 2024-01-01 00:00:00 .. 2024-01-09 12:00:00"
    assert {s.name: s.to_dict()["lag_beyond_data"] for s in result.skipped} == {
        "card_count_1d_lag9d": f"its lag (9d: 9 days) is not shorter than the data's span "
        f"({span}): its window ends before the first row, so it is the fill on every row",
        "merchant_fraud_rate_7d": f"its lag (the label delay: 10 days) is not shorter than the "
        f"data's span ({span}): its window ends before the first row, so it is the fill on "
        "every row",
    }
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and warned[0].startswith("2 feature(s) skipped, they would be constant")
    assert "card_count_1d_lag9d (its lag (9d: 9 days) is not shorter" in warned[0]
    # the scorer's history is a slice of the table: there a lag is history not read
    kept = compute_features(df, fs, skip_lags_beyond_data=False)
    assert kept.skipped == () and "card_count_1d_lag9d" in kept.feature_names
    # they were constant indeed; the 8-day lag was not
    full = compute_features(df, fs, skip_all_null=False).df.collect()
    assert {r["card_count_1d_lag9d"] for r in full} == {0.0}
    assert len({r["merchant_fraud_rate_7d"] for r in full}) == 1
    assert {r["transaction_id"] for r in full if r["merchant_count_1d_lag8d"]} == {"q3"}
