"""The staged input's checks are observed on its write (fraud_app.etl.stage_summary). Spark's
`Observation.get` waits without a deadline; pyspark 4.0 and 4.1 (pyproject allows them)
complete an observation from the asynchronous listener bus (a dropped event: never), and 4.0
releases before SPARK-54620 never complete one whose plan lost its CollectMetricsExec: the
ETL then hung after its input was staged (session 41 review). The wait now has a deadline,
past which the stage is asked with one job (stage_input's fallback)."""

from __future__ import annotations

import logging

import pytest
from pyspark.sql import Observation
from pyspark.sql import functions as F

from fraud_app.etl import stage_summary

pytestmark = pytest.mark.spark


def test_an_observation_never_reported_is_given_up_at_the_deadline(spark, caplog):
    observation = Observation()
    spark.range(3).observe(observation, F.count(F.lit(1)).alias("n"))  # never run: never reported
    with caplog.at_level(logging.WARNING, logger=stage_summary.__name__):
        assert stage_summary.observation_values(observation, 0.2) == {}
    assert "had not reported the staged input's checks 0.2 s after its write" in caplog.text


def test_a_reported_observation_is_returned(spark):
    observation = Observation()
    spark.range(3).observe(observation, F.count(F.lit(1)).alias("n")).collect()
    assert stage_summary.observation_values(observation, 30) == {"n": 3}


def _annotated(spark, rows):
    from fraud_app.config import load_config
    from fraud_app.etl.pipeline import annotate_rows

    cfg = load_config(None).etl
    raw = spark.createDataFrame(
        rows, "transaction_id string, card_id string, timestamp string, amount string, label string"
    )
    return annotate_rows(raw, cfg, "test input"), cfg


def test_stage_input_summarises_the_stage_from_its_write(spark, tmp_path):
    annotated, cfg = _annotated(
        spark,
        [("t1", "c1", "2025-01-05 10:00:00", "12.50", "1"),
         ("t2", "c2", "2025-01-05 00:00:00", "3.00", "0")],
    )  # fmt: skip
    staged = stage_summary.stage_input(spark, annotated, str(tmp_path / "s"), cfg)
    assert staged.input_rows == 2 and staged.rows.count() == 2
    assert (staged.metrics["__times_rows"], staged.metrics["__times_with_time"]) == (2, 1)


def test_stage_input_asks_the_stage_when_the_observation_never_comes(spark, tmp_path, monkeypatch):
    """The deadline's fallback: a wait that gives up (here: at once) still gives every value."""
    annotated, cfg = _annotated(spark, [("t1", "c1", "2025-01-05 10:00:00", "12.50", "1")])
    monkeypatch.setattr(stage_summary, "observation_values", lambda observation, wait_s: {})
    staged = stage_summary.stage_input(spark, annotated, str(tmp_path / "s"), cfg)
    assert set(staged.metrics) == set(stage_summary.summary_columns(cfg))
    assert staged.input_rows == 1 and staged.metrics["__times_with_time"] == 1
