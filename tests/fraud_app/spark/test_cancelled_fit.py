"""A notebook cancels its job group during a fit (session 39, helper notebook39): the fit's
Spark jobs run in the caller's job group, so `sc.cancelJobGroup(group)` from another
thread (a notebook's stop button, a watchdog cell) cancels its barrier job. The trainer
took that for a failed stage and retried it in the same group: the fit went on to its end.
Now it stops with one line naming the cancellation, and the session trains again."""

from __future__ import annotations

import logging
import threading

import pytest

from dlcore.losses import BCEWithLogits
from dlcore.optimizers import SGD
from fraud_app.errors import TrainingError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.trainer import DistributedTrainer
from tests.fraud_app.spark.test_distributed import _df, _model

pytestmark = pytest.mark.spark


class _CancelOnRendezvous(logging.Handler):
    """The notebook's other thread: cancels the group once the long stage's tasks met (round
    1 is the planner's short measuring stage; a cancel as it ends is stopped as well, but
    one landing between two stages cancels nothing)."""

    def __init__(self, sc, group: str) -> None:
        super().__init__(logging.INFO)
        self.sc, self.group, self.fired = sc, group, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.fired and "rendezvous round 2 complete" in record.getMessage():
            self.fired = True
            threading.Thread(target=self.sc.cancelJobGroup, args=(self.group,)).start()


def test_cancelling_the_callers_job_group_stops_the_fit(spark, caplog):
    df = _df(spark).cache()
    df.count()
    sc = spark.sparkContext
    cfg = DistributedConfig(num_workers=2, global_batch_size=32, iterations=20_000, epochs=None,
                            group_size=50)  # fmt: skip
    rendezvous = logging.getLogger("dlcore.collective.rendezvous")
    handler = _CancelOnRendezvous(sc, "analyst")
    level = rendezvous.level
    rendezvous.setLevel(logging.INFO)
    rendezvous.addHandler(handler)
    sc.setJobGroup("analyst", "a cell the analyst stops", True)
    try:
        trainer = DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=0.1), cfg)
        with (
            caplog.at_level("WARNING", logger="fraud_app.spark"),
            pytest.raises(TrainingError) as info,  # was: retried, and the fit ran to its end
        ):
            trainer.fit(df)
    finally:
        rendezvous.removeHandler(handler)
        rendezvous.setLevel(level)
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)
    assert handler.fired
    message = str(info.value)
    assert "the training's barrier job was cancelled from outside the fit" in message, message
    assert "cancelled part of cancelled job group analyst" in message, message
    assert "retrying from group" not in caplog.text
    assert list(sc.statusTracker().getActiveJobsIds()) == []
    # the same session trains again at once
    ok = DistributedTrainer(
        _model(), BCEWithLogits(), SGD(learning_rate=0.1),
        DistributedConfig(num_workers=2, global_batch_size=32, iterations=4, epochs=None),
    ).fit(df)  # fmt: skip
    assert ok.iterations == 4
    df.unpersist()
