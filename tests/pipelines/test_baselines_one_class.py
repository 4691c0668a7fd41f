"""`train`'s baselines run after the ensemble's members: a training sample of one class
(a `baselines.normal_fraction` that keeps no normal of a small window) is a WARNING and a
run without baselines, not an error that threw the trained members' run away (review48a:
probe48a's refusal came after every member had trained)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest

from fraud_app.config import AppConfig
from pipelines.training.baselines import fit_baselines

pytestmark = pytest.mark.spark


def _frame(spark, rows: int = 300):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(rows, 3))
    y = (X[:, 0] > 1.0).astype(int)
    data = [(i, [float(v) for v in X[i]], int(y[i])) for i in range(rows)]
    return spark.createDataFrame(data, "id long, features array<double>, label int")


def test_a_one_class_sample_leaves_the_run_without_baselines(spark, caplog):
    df = _frame(spark)
    config = AppConfig()
    config = config.model_copy(update={"baselines": config.baselines.model_copy(update={
        "normal_fraction": 1e-9, "logreg": {"max_iter": 3}, "gbt": {"max_iter": 2, "max_depth": 2},
    })})  # fmt: skip
    splits = SimpleNamespace(train=df, validation=df)
    with caplog.at_level(logging.WARNING, logger="pipelines.training.baselines"):
        assert fit_baselines(splits, config, None, features_col="features") == []
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1, warned
    assert "holds no normal (label != 1) row" in warned[0]
    assert warned[0].endswith("This run goes on without baselines.")
