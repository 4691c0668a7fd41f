"""Two fits in one checkpoint directory from two THREADS of one process (a notebook's
thread pool, a sweep run concurrently with one checkpoint_dir). The lock file keeps a
second process out, but it is re-entrant within a process: the second thread's fit took it
too, then met the first one's newest checkpoint as "a different training setup ... delete
this one to start over" (the directory a live fit was writing to), or, before that
checkpoint existed, trained and saved over its groups. It is now refused as a concurrent
run naming the thread that trains there, before it trains."""

from __future__ import annotations

import threading
import time

import pytest
from pyspark import InheritableThread

from fraud_app.errors import ConcurrentRunError, TrainingError
from fraud_app.spark.stage_job import CANCELLED
from tests.fraud_app.spark.test_resume_setup import _df, _fit

pytestmark = pytest.mark.spark
GROUP = "probe47b-first-fit"


def test_a_second_thread_training_in_the_same_checkpoint_directory_is_refused(spark, tmp_path):
    df, ckpt = _df(spark), tmp_path / "ckpt"
    outcome: list[BaseException | None] = []

    def first() -> None:
        spark.sparkContext.setJobGroup(GROUP, "the first fit", interruptOnCancel=True)
        try:  # long enough to be running when the second one starts; cancelled below
            _fit(df, None, iterations=4000, stage_groups=1, checkpoint_dir=str(ckpt))
            outcome.append(None)
        except BaseException as exc:  # reported by the assertion below
            outcome.append(exc)

    thread = InheritableThread(target=first, name="first-fit")
    thread.start()
    try:
        deadline = time.monotonic() + 300
        while not (ckpt / ".training.lock").exists():  # the first fit holds the directory
            assert thread.is_alive() and time.monotonic() < deadline, outcome
            time.sleep(0.05)
        with pytest.raises(ConcurrentRunError) as info:
            _fit(df, None, iterations=4, checkpoint_dir=str(ckpt))
    finally:  # once: Spark refuses the group's next job too (a cancelJobGroup between two
        # stages finds no job, and Spark keeps no record of it: the fit went on)
        spark.sparkContext._jsc.sc().cancelJobGroupAndFutureJobs(GROUP)
        thread.join(300)
    assert str(info.value) == (
        "another distributed training of this process (thread 'first-fit'; this is "
        f"{threading.current_thread().name!r}) is writing to the checkpoint directory {ckpt}: "
        "two fits there prune and save over each other's checkpoints. Give each fit its own "
        "checkpoint directory (checkpoint_dir, paths.checkpoints), or run them one after the "
        "other"
    )
    assert not thread.is_alive() and len(outcome) == 1, outcome
    assert isinstance(outcome[0], TrainingError) and CANCELLED in str(outcome[0]), outcome
    assert not (ckpt / ".training.lock").exists()  # both released
