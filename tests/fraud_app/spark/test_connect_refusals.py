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


def _run_labels(spark, config, tmp_path):
    from fraud_app.etl.labels import run_labels

    run_labels(spark, config, [str(tmp_path / "feed.csv")])


def _run_tune(spark, config, tmp_path):
    from pipelines.tune.pipeline import run_tune

    run_tune(spark, config, config.tune, run="connect")


def _run_backtest(spark, config, tmp_path):
    from pipelines.backtest.pipeline import run_backtest

    run_backtest(spark, config, config.backtest, run="connect")


def _run_workflow(spark, config, tmp_path):
    from pipelines.workflow.pipeline import run_workflow

    run_workflow(spark, config, generate=True, run="connect")


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
        (_run_labels, "run_labels", "Hadoop's FileSystem API"),
        (_run_tune, "run_tune", "barrier tasks over RDDs"),
        (_run_backtest, "run_backtest", "barrier tasks over RDDs"),
        (_run_workflow, "run_workflow", "Hadoop's FileSystem API"),
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


def test_get_spark_refuses_spark_remote_instead_of_a_pyspark_error():
    """SPARK_REMOTE set and no session yet: get_spark (so every CLI command) names the
    variable, its token hidden, and how to run without it. It was PySpark's
    `[CANNOT_CONFIGURE_SPARK_CONNECT_MASTER] Spark Connect server and Spark master cannot
    be configured together` (under spark-submit, a Connect session every step refused).
    A child process: this one may hold a classic session, which get_spark returns."""
    import os
    import subprocess
    import sys

    code = (
        "from fraud_app.errors import EnvironmentSetupError\n"
        "from fraud_app.spark.session import get_spark\n"
        "try:\n    get_spark('local[1]')\n"
        "except EnvironmentSetupError as exc:\n    print('REFUSED', exc)\n"
    )
    env = {**os.environ, "SPARK_REMOTE": "sc://127.0.0.1:9/;token=s3cret"}
    env.pop("SPARK_CONNECT_MODE_ENABLED", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.stdout.startswith("REFUSED SPARK_REMOTE=sc://127.0.0.1:9/;token=*** is set"), (
        out.stdout + out.stderr[-2000:])  # fmt: skip
    assert "env -u SPARK_REMOTE fraud-app" in out.stdout
    assert "s3cret" not in out.stdout + out.stderr


def test_a_model_over_the_servers_request_limit_is_named_before_any_job(remote):
    """Under Connect the model's payload travels inside the scoring UDF's plan. A realistic
    one (5 members, 35 features, hidden [128, 64]: 0.99 MB pickled; [4096, 2048]: 194 MB,
    docs/PROBES.md session 40) is measured against the server's 128 MiB request limit:
    over it, one error naming both sizes and what to do before any request (there was no
    check). The array is never written (np.zeros, sized out of band)."""
    import numpy as np

    from fraud_app.spark.broadcasts import Inline, share
    from fraud_app.spark.connect import pickled_bytes

    small = {"members": [{"params": np.ones(40_000, np.float32)} for _ in range(5)]}
    assert isinstance(share(remote, small), Inline)
    assert 800_000 < pickled_bytes(small) < 900_000
    large = {"members": [{"params": np.zeros(35 * 2**20, np.float32)}]}  # 140 MiB
    with pytest.raises(SparkConnectUnsupportedError) as caught:
        share(remote, large)
    message = str(caught.value)
    assert message.startswith("the model's payload is 140.0 MiB pickled; under Spark Connect")
    assert "at most 128.0 MiB (spark.connect.grpc.maxInboundMessageSize)" in message
    assert "`fraud-app score`" in message
