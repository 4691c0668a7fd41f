"""`DistributedTrainer.fit(TrainingData)` releases the data's persisted blocks however it
ends, as its docstring promises: also when it refuses the call before training."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.layers import Linear, Sequential
from dlcore.losses import BCEWithLogits
from dlcore.model import Model
from dlcore.optimizers import SGD
from fraud_app.errors import TrainingError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.early_stopping import EarlyStoppingConfig
from fraud_app.spark.trainer import DistributedTrainer, prepare_training_data

pytestmark = pytest.mark.spark


def _prepared(spark):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    rows = [(X[i].tolist(), float(X[i, 0] > 0)) for i in range(len(X))]
    df = spark.createDataFrame(rows, "features array<float>, label double")
    return prepare_training_data(
        df, features_col="features", label_col="label", weight_col=None, num_workers=2
    )


def _persisted(spark, rdd) -> bool:
    return rdd.id() in spark.sparkContext._jsc.getPersistentRDDs()


def test_early_stopping_without_validation_still_releases_the_blocks(spark):
    data = _prepared(spark)
    assert _persisted(spark, data.blocks)
    cfg = DistributedConfig(
        num_workers=2,
        global_batch_size=8,
        iterations=4,
        epochs=None,
        early_stopping=EarlyStoppingConfig(patience=1),
    )
    trainer = DistributedTrainer(
        Model(Sequential([Linear(1)]), in_features=3, seed=0),
        BCEWithLogits(),
        SGD(learning_rate=0.1),
        cfg,
    )
    with pytest.raises(TrainingError, match="early stopping is on but fit"):
        trainer.fit(data)
    assert not _persisted(spark, data.blocks)
