"""An interrupted per-iteration fit leaves no broadcast file behind.

The per-iteration engine broadcasts the weights for every iteration's job and destroyed the
broadcast after the job; a KeyboardInterrupt (a notebook's interrupt, SIGINT) or a failed
job skipped that, and PySpark keeps a broadcast's driver-side file until `destroy()` or
the end of the session (before session 32: one file left per interrupted fit).

The interrupt is raised where a real one lands nearly always, inside an iteration's job
(a SIGINT on a timer also landed, now and then, inside PySpark's own `sc.broadcast`, which
writes the file before it returns the handle: a failure of the timing, not of the engine):
the real job runs, then the call raises."""

from __future__ import annotations

import os

import pytest
from pyspark import RDD

from dlcore.losses import BCEWithLogits
from dlcore.optimizers import SGD
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.trainer import DistributedTrainer
from tests.fraud_app.spark.test_distributed import _df, _model

pytestmark = pytest.mark.spark


def _files(sc) -> set[str]:
    return set(os.listdir(sc._temp_dir)) if os.path.isdir(sc._temp_dir) else set()


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_per_iteration_fit_leaves_no_broadcast_file(spark, monkeypatch, stop):
    sc = spark.sparkContext
    df = _df(spark).cache()
    df.count()
    cfg = DistributedConfig(num_workers=2, global_batch_size=32, iterations=100_000, epochs=None,
                            group_size=4, warmup_iterations=0, engine="per_iteration")  # fmt: skip
    trainer = DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=0.01), cfg)
    real, calls = RDD.treeAggregate, []

    def job_then_stop(self, *args, **kwargs):
        out = real(self, *args, **kwargs)  # the iteration's real job
        calls.append(1)
        if len(calls) == 5:
            raise stop("stopped inside iteration 5's job")
        return out

    monkeypatch.setattr(RDD, "treeAggregate", job_then_stop)
    before = _files(sc)
    try:
        with pytest.raises(stop, match="iteration 5"):
            trainer.fit(df)
    finally:
        df.unpersist()
    assert len(calls) == 5
    assert not _files(sc) - before
