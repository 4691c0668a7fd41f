"""A member's training data (`prepare_training_data`'s persisted blocks) is released when
building its trainer fails, and the config values that reached that failure are refused
when the config is read (session 37 probe, docs/PROBES.md). Before, `_Members.train` built
the trainer outside the `try` that releases the data: `training.distributed.epochs: null`
with `iterations` null passed the config, then DistributedConfig refused it at the first
member, after Spark and the data pass, leaving that member's blocks cached."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.layers import Linear, Sequential
from dlcore.model import Model
from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.models.config import (
    DistributedSection,
    ModelSection,
    OptimizerSection,
    TrainingSection,
)
from fraud_app.models.train import MemberPlan, TrainingInputs, WarmStart, train_ensemble


def test_a_config_without_epochs_or_iterations_is_refused_when_read():
    with pytest.raises(ConfigError, match=r"epochs and distributed.iterations are both null"):
        load_config(None, {"training.distributed.epochs": None})
    section = load_config(None, {"training.distributed.epochs": None,
                                 "training.distributed.iterations": 40})  # fmt: skip
    assert section.training.distributed.iterations == 40


def test_a_refit_rate_past_the_largest_float_is_refused_when_read():
    with pytest.raises(ConfigError, match=r"learning_rate_scale \(10000000000.0\) is not a finite"):
        load_config(None, {"training.optimizer.learning_rate": 1e300,
                           "training.refit.learning_rate_scale": 1e10})  # fmt: skip
    fresh = load_config(None, {"training.optimizer.learning_rate": 1e300,
                               "training.refit.learning_rate_scale": 1e10,
                               "training.refit.method": "fresh"})  # fmt: skip
    assert fresh.training.refit.method == "fresh"  # the scale applies to warm starts only


@pytest.mark.spark
def test_a_member_whose_trainer_cannot_be_built_releases_its_data(spark):
    """A warm start built in code (not from a config file) at a learning rate whose product
    overflows: the optimizer's copy refuses it inside `_trainer`."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, 3)).astype(np.float32)
    rows = [(X[i].tolist(), float(X[i, 0] > 0)) for i in range(len(X))]
    df = spark.createDataFrame(rows, "features array<float>, label double")
    cfg = TrainingSection(
        model=ModelSection(hidden=(4,), encoding="none"),
        optimizer=OptimizerSection(learning_rate=1e300),
        distributed=DistributedSection(
            num_workers=1, global_batch_size=8, iterations=4, epochs=None, early_stopping=None
        ),
        refit={"enabled": False},
    )
    warm = WarmStart([Model(Sequential([Linear(1)]), in_features=3, seed=0)], passes=1.0,
                     learning_rate_scale=1e10)  # fmt: skip
    persisted = spark.sparkContext._jsc.getPersistentRDDs
    before = set(persisted().keySet())
    with pytest.raises(ConfigError, match="learning_rate"):
        train_ensemble([df], cfg, TrainingInputs(["a", "b", "c"], None),
                       plan=MemberPlan(warm_start=warm))  # fmt: skip
    assert set(persisted().keySet()) == before
