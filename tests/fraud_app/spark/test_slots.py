"""More barrier workers than a local master has task slots: an error naming the setting at
once, instead of Spark's slot check failing ~2 minutes per attempt (4 attempts, ~8 minutes,
"An error occurred while calling ...collectAndServe")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dlcore.layers import Linear, Sequential
from dlcore.losses import BCEWithLogits
from dlcore.model import Model
from dlcore.optimizers import SGD
from fraud_app.errors import ConfigError
from fraud_app.ml import DlcoreClassifier
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.session import check_barrier_slots
from fraud_app.spark.trainer import DistributedTrainer


def _sc(master: str, task_cpus: str | None = None):
    conf = {} if task_cpus is None else {"spark.task.cpus": task_cpus}
    return SimpleNamespace(master=master, getConf=lambda: SimpleNamespace(get=conf.get))


@pytest.mark.parametrize(
    "master, cpus, workers",
    [("local[2]", None, 2), ("local", None, 1), ("local[4, 3]", None, 4), ("local[4]", "2", 2),
     ("local[*]", None, os.cpu_count()), ("yarn", None, 64), ("spark://h:7077", None, 64)],
)  # fmt: skip
def test_enough_slots_or_not_a_local_master(master, cpus, workers):
    check_barrier_slots(_sc(master, cpus), workers)


@pytest.mark.parametrize(
    "master, cpus, workers, slots",
    [("local[2]", None, 3, 2), ("local", None, 2, 1), ("local[4]", "2", 3, 2),
     ("local[*]", None, (os.cpu_count() or 1) + 1, os.cpu_count())],
)  # fmt: skip
def test_too_few_local_slots(master, cpus, workers, slots):
    with pytest.raises(
        ConfigError, match=rf"num_workers = {workers} needs {workers} task slots .* has {slots} "
    ):
        check_barrier_slots(_sc(master, cpus), workers)


@pytest.mark.spark
def test_the_trainer_and_the_estimator_refuse_at_once(spark):
    rng = np.random.default_rng(0)
    rows = [(rng.standard_normal(3).astype(np.float32).tolist(), float(i % 2)) for i in range(40)]
    df = spark.createDataFrame(rows, "features array<float>, label double")
    cfg = DistributedConfig(num_workers=3, global_batch_size=12, iterations=2, epochs=None)
    model = Model(Sequential([Linear(1)]), in_features=3, seed=0)
    with pytest.raises(ConfigError, match=r"master local\[2\] has 2 \(spark\.task\.cpus=1\)"):
        DistributedTrainer(model, BCEWithLogits(), SGD(learning_rate=0.1), cfg).fit(df)
    with pytest.raises(ConfigError, match=r"numWorkers of the fraud_app\.ml estimators"):
        DlcoreClassifier(hiddenLayers=[2], epochs=1.0, batchSize=12, numWorkers=3).fit(df)


@pytest.mark.spark
@pytest.mark.parametrize("fit", ["trainer", "DlcoreClassifier", "BalancedBaggingClassifier"])
def test_too_few_slots_are_refused_before_the_data_is_read(spark, fit):
    """The check ran after the trainer's pass over the whole DataFrame (and bagging's
    whole-data pass, before it): numWorkers=3 on local[2] read all the data first. Here
    reading the features fails, so only a refusal made before any read is a ConfigError."""
    from pyspark.sql import functions as F

    from fraud_app.ml import BalancedBaggingClassifier

    rows = [([0.1 * i, 1.0, -1.0], float(i % 2)) for i in range(40)]
    df = spark.createDataFrame(rows, "features array<float>, label double")
    unread = F.when(F.col("label") >= 0, F.raise_error(F.lit("the data was read")))
    df = df.withColumn("features", unread.otherwise(F.col("features")))
    params = dict(hiddenLayers=[2], epochs=1.0, batchSize=12, numWorkers=3)
    with pytest.raises(ConfigError, match=r"needs 3 task slots .* local\[2\] has 2"):
        if fit == "trainer":
            cfg = DistributedConfig(num_workers=3, global_batch_size=12, iterations=2, epochs=None)
            model = Model(Sequential([Linear(1)]), in_features=3, seed=0)
            DistributedTrainer(model, BCEWithLogits(), SGD(learning_rate=0.1), cfg).fit(df)
        elif fit == "DlcoreClassifier":
            DlcoreClassifier(**params).fit(df)
        else:
            BalancedBaggingClassifier(**params, numSubsets=2).fit(df)


@pytest.mark.parametrize("value", ["true", "TRUE"])
def test_dynamic_allocation_on_a_cluster_master_is_refused(value):
    sc = SimpleNamespace(
        master="yarn",
        getConf=lambda: SimpleNamespace(get={"spark.dynamicAllocation.enabled": value}.get),
    )
    with pytest.raises(ConfigError, match=r"spark\.dynamicAllocation\.enabled = true on Spark"):
        check_barrier_slots(sc, 2)


def test_dynamic_allocation_is_ignored_on_a_local_master():
    conf = {"spark.dynamicAllocation.enabled": "true"}
    check_barrier_slots(
        SimpleNamespace(master="local[2]", getConf=lambda: SimpleNamespace(get=conf.get)), 2
    )


# Spark's slot check, for real, in a session of its own (its wait is fixed when the context
# starts): 3 barrier tasks on local[2], refused after one 1-second check.
_REFUSED_STAGE = """
import queue
from pyspark.sql import SparkSession
from fraud_app.spark.stage_job import StageJob, retry_cannot_fix
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "1s")
         .config("spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures", "1")
         .getOrCreate())
events = queue.Queue()
job = StageJob(spark.sparkContext, spark.sparkContext.parallelize(range(3), 3), None, events, "t")
job.start()
kind, cause = events.get(timeout=120)
print(kind)
print(cause)
print("final" if retry_cannot_fix(cause, False) else "retried", retry_cannot_fix(cause, True))
spark.stop()
"""


@pytest.mark.spark
def test_spark_refusing_the_barrier_stage_for_slots_names_the_setting_and_the_slots():
    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # the child's cold JVM runs one refused stage and ends: its JIT C1 only (spark-submit
    # puts SPARK_SUBMIT_OPTS on the driver JVM's command line, silently; session 50)
    env["SPARK_SUBMIT_OPTS"] = "-XX:TieredStopAtLevel=1"
    out = subprocess.run(
        [sys.executable, "-c", _REFUSED_STAGE], env=env, capture_output=True, text=True,
        timeout=300, check=True,
    ).stdout.splitlines()  # fmt: skip
    kind, cause, retried = out[-3:]
    assert kind == "failed"
    assert "collectAndServe" not in cause
    assert re.search(
        r"BarrierJobSlotsNumberCheckFailed: the barrier stage needs 3 task slots at once .*"
        r"num_workers.* Spark master local\[2\] offers 2 ",
        cause,
    ), cause
    # before any progress the cluster is too small: final; after progress an executor may
    # come back, so the stage is retried (up to max_retries)
    assert retried == "final False"
