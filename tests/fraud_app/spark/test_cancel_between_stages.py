"""A cancel of the fit's job group that comes between two stages (the driver saving a
checkpoint, no job of the group running). Spark's cancelJobGroup cancels the group's ACTIVE
jobs and keeps no record (`Failed to cancel job group ... Cannot find active jobs`), so the
fit goes on, and nothing the trainer could read says a cancel came; ARCHITECTURE and the
README said it ends the fit. cancelJobGroupAndFutureJobs (Spark 4) also refuses the group's
next job, the next stage's: the fit ends unretried, as a cancel mid-stage does."""

from __future__ import annotations

import logging
import time

import pytest
from pyspark import InheritableThread

from fraud_app.errors import TrainingError
from fraud_app.spark.stage_job import CANCELLED
from tests.fraud_app.spark.test_resume_setup import _df, _fit

pytestmark = pytest.mark.spark


class _CancelAtFirstSave(logging.Handler):
    """On the fit's first checkpoint, once no job of `group` runs, cancels it with `how`."""

    def __init__(self, sc, group: str, how: str) -> None:
        super().__init__()
        self.sc, self.group, self.how, self.idle = sc, group, how, None

    def emit(self, record: logging.LogRecord) -> None:
        if self.idle is not None or not record.getMessage().startswith("checkpoint written"):
            return
        tracker, deadline = self.sc.statusTracker(), time.monotonic() + 60
        while time.monotonic() < deadline:
            jobs = [tracker.getJobInfo(j) for j in tracker.getJobIdsForGroup(self.group)]
            self.idle = not any(j is not None and j.status == "RUNNING" for j in jobs)
            if self.idle:
                break
            time.sleep(0.05)  # polling Spark's status, not synchronising threads
        getattr(self.sc._jsc.sc(), self.how)(self.group)


@pytest.mark.parametrize("how", ["cancelJobGroup", "cancelJobGroupAndFutureJobs"])
def test_a_cancel_between_two_stages(spark, tmp_path, how):
    sc, group = spark.sparkContext, f"review47b-{how}"
    df, outcome = _df(spark), []

    def fit() -> None:
        sc.setJobGroup(group, "a fit cancelled between two stages")
        try:
            outcome.append(_fit(df, None, iterations=12, stage_groups=1,
                                checkpoint_dir=str(tmp_path / "ckpt")))  # fmt: skip
        except BaseException as exc:  # reported by the assertions below
            outcome.append(exc)

    handler = _CancelAtFirstSave(sc, group, how)
    logger = logging.getLogger("fraud_app.spark.checkpoint")
    logger.addHandler(handler)
    old_level, _ = logger.level, logger.setLevel(logging.INFO)
    try:
        thread = InheritableThread(target=fit, name="cancelled-fit")
        thread.start()
        thread.join(300)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert handler.idle and len(outcome) == 1, (handler.idle, outcome)
    if how == "cancelJobGroup":  # nothing to cancel, nothing recorded: the fit ends as asked
        assert outcome[0].iterations == 12
    else:
        assert isinstance(outcome[0], TrainingError) and CANCELLED in str(outcome[0])
        assert "part of cancelled job group" in str(outcome[0])
