"""A training window without a fraud (an export whose frauds all sit in its last week, a
first delivery before any chargeback): `train` / `run` / `tune` stopped at the balancing
step with `the data holds no fraud (label = 1) rows; widen the training window`, naming
neither the window nor where the frauds are nor the settings that move the windows. The
split now refuses it itself, saying all three."""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.errors import EmptyInputError
from fraud_app.features.config import SplitsSection
from pipelines.training import nodes

pytestmark = pytest.mark.spark

START = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


def _frame(spark, fraud):
    rows = [(f"t{i:03d}", START + dt.timedelta(hours=6 * i), int(fraud(i))) for i in range(120)]
    return spark.createDataFrame(rows, "transaction_id string, timestamp timestamp, label int")


def test_a_training_window_without_fraud_names_where_the_frauds_are(spark) -> None:
    df = _frame(spark, lambda i: i >= 100 and i % 3 == 0)  # 30 days; frauds in the last 5
    cfg = SplitsSection(test_days=5, validation_days=5)
    with pytest.raises(EmptyInputError) as err:
        nodes.split(df, cfg, label_delay_days=7)
    said = str(err.value)
    assert said.startswith(
        "the training window (the first row .. 2025-03-14T00:00:00+00:00, 52 rows) holds no "
        "fraud (label = 1), so no model can learn one: frauds per window: train 0, "
        "validation 0, test 6, 0 in the gaps; the data's first fraud is at 2025-03-26 12:00:00."
    ), said
    assert "splits.test_days" in said and "etl.columns.label" in said


def test_a_training_window_with_a_fraud_splits_as_before(spark) -> None:
    df = _frame(spark, lambda i: i % 10 == 0)
    splits = nodes.split(df, SplitsSection(test_days=5, validation_days=5), label_delay_days=7)
    assert splits.summary["windows"]["train"]["frauds"] == 6
    assert splits.summary["first_fraud"] == "2025-03-01 00:00:00"


def test_a_training_window_with_few_frauds_is_warned_about(spark, caplog) -> None:
    # session 28 (probe28b): a 0.05 % export (30k rows) trained on 4 frauds and its model,
    # worse than chance (validation AP 0.0003), became the champion without a word
    df = _frame(spark, lambda i: i in (3, 10, 90, 110))  # train 2, validation 0, test 1
    cfg = SplitsSection(test_days=5, validation_days=5)
    with caplog.at_level("WARNING", logger="fraud_app.features.splits"):
        nodes.split(df, cfg, label_delay_days=7)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1, warned
    assert warned[0].startswith(
        "the training window (the first row .. 2025-03-14T00:00:00+00:00, 52 rows) holds "
        "only 2 fraud(s) (validation 0, test 1, 1 in the gaps)"
    ), warned
    assert "splits.test_days" in warned[0]
    caplog.clear()
    many = _frame(spark, lambda i: i < 52 and i % 2 == 0)  # 26 training frauds: no warning
    with caplog.at_level("WARNING", logger="fraud_app.features.splits"):
        nodes.split(many, cfg, label_delay_days=7)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
