"""More barrier workers than a local master has task slots: an error naming the setting at
once, instead of Spark's slot check failing ~2 minutes per attempt (4 attempts, ~8 minutes,
"An error occurred while calling ...collectAndServe")."""

from __future__ import annotations

import os
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
