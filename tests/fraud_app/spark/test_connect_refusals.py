"""Under Spark Connect, the steps that need a classic session's JVM (barrier training,
Hadoop's FileSystem through Py4J, Spark ML's writers) are refused with one error naming
Spark Connect, what it lacks and what to run instead, before any work: the client here
talks to an address where nothing listens, so a step that made any request (a schema, a
setting, a job) would fail on the refused connection instead. They were PySpark's
`[NOT_IMPLEMENTED] rdd is not implemented` and `[JVM_ATTRIBUTE_NOT_SUPPORTED] Attribute
sparkContext ...` from inside the step (docs/PROBES.md, session 40)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from dlcore.layers import Linear
from dlcore.losses import BCEWithLogits
from dlcore.model import Model
from dlcore.optimizers import Adam
from fraud_app.config import load_config
from fraud_app.errors import SparkConnectUnsupportedError
from fraud_app.spark.connect import is_connect
from tests.fraud_app.spark.connect_sessions import client, connect_mode, unreachable_url

DAY = dt.date(2024, 2, 1)


@pytest.fixture(scope="module")
def remote():
    """A Spark Connect client session whose server does not exist."""
    with unreachable_url() as url, connect_mode():
        session = client(url, retries=False)
        yield session
        session.stop()


def _trainer_fit(spark, config, tmp_path):
    from fraud_app.spark.config import DistributedConfig
    from fraud_app.spark.trainer import DistributedTrainer

    model = Model(Linear(1), in_features=2, seed=0)
    cfg = DistributedConfig(num_workers=1, global_batch_size=4)
    DistributedTrainer(model, BCEWithLogits(), Adam(learning_rate=1e-3), cfg).fit(spark.range(4))


def _classifier_fit(spark, config, tmp_path):
    from fraud_app.ml import DlcoreClassifier

    DlcoreClassifier(numWorkers=1).fit(spark.range(4))


def _run_training(spark, config, tmp_path):
    from pipelines.training.pipeline import run_training

    run_training(spark, config, run="connect")


def _run_etl(spark, config, tmp_path):
    from fraud_app.etl.pipeline import run_etl

    run_etl(spark, config)


def _run_scoring(spark, config, tmp_path):
    from fraud_app.scoring.job import run_scoring

    run_scoring(spark, config, start=DAY, end=DAY, model_uri=str(tmp_path / "model"))


def _run_evaluation(spark, config, tmp_path):
    from fraud_app.scoring.evaluate import run_evaluation

    run_evaluation(spark, config, model_uri=str(tmp_path / "model"), start=DAY, end=DAY)


def _build_features(spark, config, tmp_path):
    from fraud_app.features.pipeline import build_feature_table

    build_feature_table(spark, config)


def _save_model(spark, config, tmp_path):
    from fraud_app.ml.classifier import DlcoreClassificationModel
    from fraud_app.models.ensemble import FraudEnsemble

    ensemble = FraudEnsemble([Model(Linear(1), in_features=2, seed=0)], ["a", "b"], {})
    DlcoreClassificationModel(ensemble).write().save(str(tmp_path / "root" / "model"))


def _write_raw(spark, config, tmp_path):
    from fraud_app.data.generator import write_raw

    write_raw(spark.range(3), str(tmp_path / "root" / "raw"), "csv")


@pytest.mark.parametrize(
    ("step", "what", "needs"),
    [
        (_trainer_fit, "DistributedTrainer.fit", "barrier tasks over RDDs"),
        (_classifier_fit, "DlcoreClassifier.fit", "barrier tasks over RDDs"),
        (_run_training, "run_training", "barrier tasks over RDDs"),
        (_run_etl, "run_etl", "Hadoop's FileSystem API"),
        (_build_features, "build_feature_table", "Hadoop's FileSystem API"),
        (_run_scoring, "run_scoring", "Hadoop's FileSystem API"),
        (_run_evaluation, "run_evaluation", "Hadoop's FileSystem API"),
        (_save_model, "saving a DlcoreClassificationModel to", "Hadoop's FileSystem API"),
        (_write_raw, "fraud_app's file operations", "Hadoop's FileSystem API"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_a_step_that_needs_the_jvm_is_refused_before_any_work(remote, tmp_path, step, what, needs):
    config = load_config(None, {"paths.root": str(tmp_path / "root"), "tracking.enabled": False})
    with pytest.raises(SparkConnectUnsupportedError) as caught:
        step(remote, config, tmp_path)
    message = str(caught.value)
    assert re.match(rf"{re.escape(what)}.* needs a classic SparkSession: it uses {needs}", message)
    assert "Spark Connect session (SparkSession.builder.remote(...)) does not offer" in message
    assert "`fraud-app ...` or spark-submit" in message  # what to run instead
    assert not (tmp_path / "root").exists()  # no lock, run name, staging or output made


def test_is_connect_tells_connect_objects_from_others(remote):
    df = remote.range(2)
    assert is_connect(remote) and is_connect(df) and is_connect(df.id)
    assert not any(is_connect(x) for x in (None, "sc://x", object(), [df]))
