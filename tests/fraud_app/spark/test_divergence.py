"""A run whose loss or weights become NaN / infinite stops at that group with an error
naming the group and iteration (it returned a model of NaN weights, and `fraud-app train`
registered it when checkpoints were off). Real Spark barrier stages on local[2]."""

from __future__ import annotations

import pytest

from dlcore.losses import BCEWithLogits
from dlcore.optimizers import SGD
from fraud_app.errors import TrainingDivergedError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.trainer import DistributedTrainer
from tests.fraud_app.spark.test_distributed import _df, _model

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("engine", ["grouped", "per_iteration"])
def test_a_diverging_run_stops_naming_the_group_and_iteration(spark, tmp_path, engine):
    cfg = DistributedConfig(
        num_workers=2, global_batch_size=32, iterations=12, epochs=None, group_size=4,
        warmup_iterations=0, engine=engine, checkpoint_dir=str(tmp_path / "ckpt"),
    )  # fmt: skip
    trainer = DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=1e38), cfg)
    with pytest.raises(
        TrainingDivergedError,
        match=r"training diverged in group 0 \(iterations 0-\d+, first at iteration \d+\): "
        r".*NaN or infinite.* Lower the learning rate \(training.optimizer.learning_rate\)",
    ):
        trainer.fit(_df(spark))
    assert not (tmp_path / "ckpt" / "LATEST.json").exists()  # no checkpoint of a NaN state
