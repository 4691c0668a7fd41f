"""`train`'s test-window figures and its baselines' test metrics computed on the executors
(a window past `fits_on_driver`; the threshold set to 0 here so a small window takes that
path) against the collected path's: the same metrics, the same C4 report. Real Spark."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from fraud_app.config import load_config
from fraud_app.evaluation import spark_window
from fraud_app.evaluation.spark_train import ExecutorWindow
from fraud_app.scoring.evaluate import window_figures
from pipelines.training import baselines, nodes
from tests.fraud_app.evaluation.same_figures import same

pytestmark = pytest.mark.spark


def _scored(spark):
    rng = np.random.default_rng(7)
    rows = [
        (f"c{int(rng.integers(0, 50))}", dt.date(2024, 2, 1 + i % 5), float(rng.random() < 0.1),
         round(float(rng.random()), 2), round(float(rng.random()), 3), "card_testing")
        for i in range(1500)
    ]  # fmt: skip
    schema = ("card_id string, event_date date, label double, fraud_score double, "
              "baseline_gbt double, fraud_pattern string")  # fmt: skip
    return spark.createDataFrame(rows, schema).repartition(3).cache()


def test_the_test_window_on_the_executors_gives_the_collected_figures(spark, tmp_path, monkeypatch):
    config = load_config(None, {"paths.root": str(tmp_path)})
    scored = _scored(spark)
    try:
        collected = nodes.test_window(scored, config.scoring)
        old_baseline = baselines.columns_metrics(scored, ["baseline_gbt"])
        monkeypatch.setattr(spark_window, "DRIVER_ROWS", 0)
        on_executors = nodes.test_window(scored, config.scoring)
        new_baseline = baselines.columns_metrics(scored, ["baseline_gbt"])
    finally:
        scored.unpersist()
    assert isinstance(collected, dict) and isinstance(on_executors, ExecutorWindow)
    budget = config.scoring.alert_budget
    same(nodes.evaluate_arrays(collected, budget), nodes.evaluate_arrays(on_executors, budget))
    same(window_figures(collected, config), on_executors.figures)
    same(old_baseline, new_baseline)


def test_an_unlabelled_row_is_refused_on_the_executors_path(spark, monkeypatch):
    # the collected path raises from evaluate_scores as it did (ValueError: cannot convert
    # float NaN to integer); the executors' path names the label, as dlcore.metrics does
    from dlcore.errors import ConfigError

    rows = [(None if i == 3 else float(i % 2), i / 10) for i in range(10)]
    scored = spark.createDataFrame(rows, "label double, fraud_score double")
    with pytest.raises(ValueError, match="cannot convert float NaN to integer"):
        baselines.columns_metrics(scored, ["fraud_score"])
    monkeypatch.setattr(spark_window, "DRIVER_ROWS", 0)
    with pytest.raises(ConfigError, match=r"y_true must hold only labels 0 and 1\. Received "
                       r"values such as \[nan\]"):  # fmt: skip
        baselines.columns_metrics(scored, ["fraud_score"])
