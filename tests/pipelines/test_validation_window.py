"""The validation window is collected once per training run and scored on the driver
(pipelines.training.nodes.ValidationWindow): the same arrays as the Spark jobs it replaces."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from fraud_app.config import load_config
from fraud_app.errors import ScoringInputError
from fraud_app.models.builders import build_model
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.models.train import encoding_state, set_encoding
from fraud_app.spark.validation_rows import collect_validation
from pipelines.training import nodes

pytestmark = pytest.mark.spark
DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
D = 5
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _window(spark, path, n=700, nan_row=None):
    rng = np.random.default_rng(7)
    X = (rng.standard_normal((n, D)) * [1, 3, 10, 0.1, 100]).astype(np.float32)
    rows = []
    for i in range(n):
        x = X[i].tolist()
        if i == nan_row:
            x[2] = float("nan")
        ts = T0 + dt.timedelta(seconds=int(rng.integers(0, 5 * 86_400)))
        rows.append((f"t{i}", f"c{i % 37}", ts, ts.date(), float(rng.random() < 0.1),
                     ["a", "b", None][i % 3], x))  # fmt: skip
    schema = ("transaction_id string, card_id string, timestamp timestamp, event_date date, "
              "label double, fraud_pattern string, features array<float>")  # fmt: skip
    # a Parquet table of several files, as training reads: the Spark scorer sees other
    # batches than the driver's one, in a fixed row order
    spark.createDataFrame(rows, schema).repartition(3).write.parquet(str(path))
    return spark.read.parquet(str(path))


def _ensemble(X: np.ndarray) -> FraudEnsemble:
    cfg = load_config(DEMO).training.model
    members = []
    for seed in range(3):
        m = build_model(cfg, D, seed)
        m.layer.layers[0].set_statistics(X.mean(0), X.std(0))
        set_encoding(m, encoding_state(m, X))
        members.append(m)
    return FraudEnsemble(members, [f"f{j}" for j in range(D)], {})


def test_the_driver_gives_the_same_arrays_as_the_spark_jobs_it_replaces(spark, tmp_path):
    df = _window(spark, tmp_path / "validation")
    val = nodes.collect_validation_window(df, "features")
    ensemble = _ensemble(val.X)
    old = collect_validation(df, features_col="features", label_col="label")
    np.testing.assert_array_equal(val.partition_data().X, old.X)
    np.testing.assert_array_equal(val.partition_data().y, old.y)
    assert val.partition_data().y.dtype == old.y.dtype == np.float32
    ours = val.scored(ensemble)
    spark_scored = nodes.score_and_collect(df, ensemble, "features")
    assert sorted(ours) == sorted(spark_scored)
    for name, column in spark_scored.items():
        np.testing.assert_array_equal(ours[name], column)  # same rows, order and bits
    assert ours["fraud_score"].dtype == np.float64


def test_a_non_finite_feature_fails_as_it_does_in_spark(spark, tmp_path):
    df = _window(spark, tmp_path / "validation", n=50, nan_row=17)
    val = nodes.collect_validation_window(df, "features")
    ensemble = _ensemble(np.nan_to_num(val.X))
    with pytest.raises(ScoringInputError, match="1 of 50 rows have NaN or infinite features"):
        val.scored(ensemble)
    with pytest.raises(ScoringInputError, match="NaN or infinite features"):
        nodes.score_and_collect(df, ensemble, "features")
