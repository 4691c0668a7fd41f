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
    ) as info:
        trainer.fit(_df(spark))
    if engine == "grouped":  # the ranks' reports say where (session 48)
        # step 0 left finite weights near 1e37; iteration 1's losses overflowed
        assert "first at iteration 1): " in str(info.value)
        assert "it began on every rank at once: their own losses" in str(info.value)
    assert not (tmp_path / "ckpt" / "LATEST.json").exists()  # no checkpoint of a NaN state


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_an_fp16_overflow_on_the_wire_is_named_with_its_rank_and_the_way_out(spark, monkeypatch):
    """Features 1e9 times too large: every rank's gradient is finite in float32 but
    past fp16's 65504, so the compressed sum is infinite. The error advised a lower
    learning rate; it names the sum and the compression setting now. Over sockets: ranks
    on one host pick shared memory, which keeps float32 whatever `compression` says."""
    monkeypatch.setenv("DLCORE_TRANSPORT", "socket")  # read by the driver, sent to the tasks
    cfg = DistributedConfig(
        num_workers=2, global_batch_size=32, iterations=8, epochs=None, group_size=4,
        warmup_iterations=0, engine="grouped", compression="fp16",
    )  # fmt: skip
    rows = _df(spark).collect()
    scaled = [([v * 1e9 for v in r["features"]], r["label"]) for r in rows]
    df = spark.createDataFrame(scaled, "features array<float>, label double").repartition(3)
    trainer = DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=1e-3), cfg)
    with pytest.raises(TrainingDivergedError) as info:
        trainer.fit(df)
    message = str(info.value)
    assert "first at iteration 0): " in message
    assert "it began in the sum over the ranks at iteration 0: every rank's own gradient " \
           "was finite, the sum rank" in message  # fmt: skip
    assert "Set training.distributed.compression to bf16" in message
