"""The Python API on a real Spark Connect session (a local Connect server, local[1], in a
child process): what runs there (get_spark, score_dataframe, a fraud_app.ml model's
transform, a scoring task's error through task_errors). Before session 40 each failed
with PySpark's `[JVM_ATTRIBUTE_NOT_SUPPORTED] Attribute sparkContext is not supported in
Spark Connect` (the session's master, the model's broadcast). What is refused under
Connect: test_connect_refusals.py. The server's start (10-40 s) is paid once here; the
scores' values are checked in the `slow` test, the fast suite scores through Connect in
the task-error test."""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import pytest

from dlcore.layers import Linear, ReLU, Sequential, Standardize
from dlcore.model import Model
from fraud_app.errors import ScoringInputError
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.batch import score_dataframe
from fraud_app.scoring.tasks import task_errors
from tests.fraud_app.spark.connect_sessions import (
    ServerDidNotStart,
    client,
    connect_mode,
    connect_server,
)

pytestmark = pytest.mark.spark
D = 4
NAMES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def connect_spark():
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(connect_server())
        except ServerDidNotStart as exc:
            pytest.skip(f"no local Spark Connect server could start here: {exc}")
        stack.enter_context(connect_mode())
        session = client(url)
        stack.callback(session.stop)
        yield session


def _ensemble() -> FraudEnsemble:
    members = []
    for seed in (0, 1):
        m = Model(Sequential([Standardize(name="standardize"), Linear(4), ReLU(), Linear(1)]),
                  in_features=D, seed=seed)  # fmt: skip
        m.layer.layers[0].set_statistics(np.zeros(D), np.ones(D))
        members.append(m)
    return FraudEnsemble(members, NAMES, {"scoring": {"feature_means": [0.0] * D}})


def test_get_spark_returns_the_connect_session_naming_what_it_does_not_apply(connect_spark, caplog):
    from fraud_app.spark.session import get_spark

    with caplog.at_level(logging.WARNING, logger="fraud_app.spark.session"):
        got = get_spark("local[2]", conf={"spark.sql.shuffle.partitions": "7"})
    assert got is connect_spark
    assert "master local[2] (the session runs on local[1])" in caplog.text
    assert "spark.sql.shuffle.partitions=7 (the session: 1)" in caplog.text


@pytest.mark.slow  # 17 s at load 4 on 2 CPUs, 64 s at load 24 (docs/PROBES.md, session 40)
def test_score_dataframe_and_model_transform_run_under_connect(connect_spark):
    from fraud_app.ml.classifier import DlcoreClassificationModel

    X = np.random.default_rng(0).normal(size=(40, D)).astype(np.float32)
    df = connect_spark.createDataFrame(
        [(i, [float(v) for v in row]) for i, row in enumerate(X)], "id int, features array<float>"
    )
    ensemble = _ensemble()
    expected = ensemble.predict_proba(X)
    scored = score_dataframe(df, ensemble).orderBy("id").collect()
    np.testing.assert_allclose([r.fraud_score for r in scored], expected, rtol=1e-6)
    model = DlcoreClassificationModel(ensemble)
    rows = model.transform(df).orderBy("id").collect()
    np.testing.assert_allclose([r.probability[1] for r in rows], expected, rtol=1e-6)
    assert {r.prediction for r in rows} <= {0.0, 1.0}


def test_a_scoring_tasks_error_comes_back_as_itself_under_connect(connect_spark):
    rows = [([0.5] * (D + 1),)] + [([0.5] * D,)] * 9
    df = connect_spark.createDataFrame(rows, "features array<float>").coalesce(1)
    with (
        pytest.raises(ScoringInputError, match=r"1 of 10 rows do not hold 4 "),
        task_errors(),
    ):
        score_dataframe(df, _ensemble()).collect()
