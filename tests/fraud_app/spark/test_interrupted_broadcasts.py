"""An interrupted per-iteration fit leaves no broadcast file behind.

The per-iteration engine broadcasts the weights for every iteration's job and destroyed the
broadcast after the job; a KeyboardInterrupt (a notebook's interrupt, SIGINT) or a failed
job skipped that, and PySpark keeps a broadcast's driver-side file until `destroy()` or
the end of the session (before session 32: one file left per interrupted fit)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from dlcore.losses import BCEWithLogits
from dlcore.optimizers import SGD
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.trainer import DistributedTrainer
from tests.fraud_app.spark.test_distributed import _df, _model

pytestmark = pytest.mark.spark


def _files(sc) -> set[str]:
    return set(os.listdir(sc._temp_dir)) if os.path.isdir(sc._temp_dir) else set()


def test_an_interrupted_per_iteration_fit_leaves_no_broadcast_file(spark):
    sc = spark.sparkContext
    df = _df(spark).cache()
    df.count()
    cfg = DistributedConfig(num_workers=2, global_batch_size=32, iterations=100_000, epochs=None,
                            group_size=4, warmup_iterations=0, engine="per_iteration")  # fmt: skip
    trainer = DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=0.01), cfg)
    before = _files(sc)
    started = time.monotonic()
    # most of an iteration is its Spark job: the interrupt lands inside one
    timer = threading.Timer(8.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            trainer.fit(df)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 120
    assert not _files(sc) - before
    df.unpersist()
