"""A barrier fit in a notebook whose other job holds a task slot (session 39, helper
notebook39). Spark starts a barrier stage only when all its slots are free at once, and
says nothing while it waits: the fit sat silent for stage_start_timeout_s (600 s by
default), then retried max_retries (3) times, each waiting as long again: 40 minutes
before its error, none of it named. Now a WARNING says what the stage waits for while it
waits, and the fit's first stage that no task of started by the deadline is final, its
error naming the slots in use."""

from __future__ import annotations

import contextlib
import re
import time

import pytest
from pyspark import InheritableThread

from dlcore.losses import BCEWithLogits
from dlcore.optimizers import SGD
from fraud_app.errors import TrainingError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.trainer import DistributedTrainer
from tests.fraud_app.spark.test_distributed import _df, _model

pytestmark = pytest.mark.spark


def test_a_fit_waiting_for_slots_says_so_and_gives_up_at_the_deadline(spark, caplog):
    df = _df(spark).cache()
    df.count()
    sc = spark.sparkContext

    def analysts_cell():  # another notebook thread's job: one of local[2]'s slots, minutes
        sc.setJobGroup("analyst", "a long cell", True)
        with contextlib.suppress(Exception):  # cancelled below
            sc.parallelize([0], 1).foreach(lambda _: time.sleep(120))

    blocker = InheritableThread(target=analysts_cell, daemon=True)
    blocker.start()
    time.sleep(1.0)
    cfg = DistributedConfig(num_workers=2, global_batch_size=32, iterations=2, epochs=None,
                            stage_start_timeout_s=4.0, max_retries=3)  # fmt: skip
    try:
        trainer = DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=0.1), cfg)
        with (
            caplog.at_level("WARNING", logger="fraud_app.spark"),
            pytest.raises(TrainingError) as info,
        ):
            trainer.fit(df)
    finally:
        sc.cancelJobGroup("analyst")
        blocker.join(timeout=30)
    df.unpersist()
    message = str(info.value)
    # was: "failed 4 times in a row; giving up after max_retries=3", after 4 x 4 s
    assert "a retry cannot fix" in message, message
    # the slots in use as Spark's status tracker counts them then (1 here; the count lags
    # a task's start by the listener's delay)
    assert re.search(r"no task of the barrier stage started; \d of the application's 2 task "
                     r"slots are running tasks", message), message  # fmt: skip
    lines = [r.getMessage() for r in caplog.records]
    waiting = [x for x in lines if "barrier tasks started after" in x]
    assert waiting and "0 of 2 barrier tasks started after 2 s" in waiting[0], lines
    assert "2 task slots are free at once" in waiting[0]
    assert "stage_start_timeout_s=4" in waiting[0]
    assert not [x for x in lines if "retrying from group" in x], lines
    assert not blocker.is_alive()
    assert list(sc.statusTracker().getActiveJobsIds()) == []
