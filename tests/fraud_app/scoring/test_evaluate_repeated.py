"""`run_evaluation` called again and again in one session (a notebook comparing models or
windows) leaves none of its scoring broadcasts' files: before session 32 each call left its
model's payload in PySpark's temporary directory until the session ended."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from fraud_app.scoring.evaluate import run_evaluation
from tests.fraud_app.scoring.test_evaluate_definitions import _setup

pytestmark = pytest.mark.spark


def test_repeated_evaluations_leave_no_broadcast_files(spark, tmp_path):
    config, _, _ = _setup(spark, tmp_path)
    temp = spark.sparkContext._temp_dir
    before = set(os.listdir(temp))
    for _ in range(3):
        report, _ = run_evaluation(spark, config, model_uri=str(tmp_path / "m"),
                                   start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 3))  # fmt: skip
        assert report["rows"] == 60
    assert not set(os.listdir(temp)) - before
