"""A worker killed (SIGKILL) mid-group: the stage's cause names the rank whose task failed.

Spark's abort of the barrier stage says which task failed it (`barrier task
ResultTask(<stage>, <partition>) finished unsuccessfully`; a barrier task's partition is its
rank), but the cause the driver kept was only the line of the worker's death, `Python worker
exited unexpectedly (crashed)`: the retry WARNING and the error after max_retries did not
say which rank died."""

from __future__ import annotations

import re

import pytest

from dlcore.losses import BCEWithLogits
from dlcore.optimizers import SGD
from fraud_app.errors import TrainingError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.stage_job import _in_rank
from fraud_app.spark.trainer import DistributedTrainer, FaultInjection
from tests.fraud_app.spark.test_distributed import _df, _model

# pyspark 4.3's text for a barrier stage whose task on partition 1 was killed
ABORT = (
    "An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.\n"
    ": org.apache.spark.SparkException: Job aborted due to stage failure: Could not recover "
    "from a failed barrier ResultStage. Most recent failure reason: Stage failed because "
    "barrier task ResultTask(0, 1) finished unsuccessfully.\n"
    "org.apache.spark.SparkException: Python worker exited unexpectedly (crashed).\n"
)


def test_the_failed_barrier_task_names_its_rank():
    assert _in_rank("the cause", ABORT) == "the cause (in rank 1's task)"
    assert _in_rank("the cause", "no barrier task named") == "the cause"


@pytest.mark.spark
def test_giving_up_after_a_killed_worker_names_its_rank(spark):
    config = DistributedConfig(num_workers=2, global_batch_size=32, iterations=8, epochs=None,
                               group_size=4, max_retries=0, op_timeout_s=20)  # fmt: skip
    trainer = DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=0.1), config,
                                 fault_injection=FaultInjection(rank=1, iteration=6))  # fmt: skip
    with pytest.raises(TrainingError, match=r"giving up after max_retries=0") as info:
        trainer.fit(_df(spark))
    cause = str(info.value).split("Last cause: ", 1)[1]
    # the task Spark names first is the killed rank's, or the survivor's, whose error then
    # names the rank that closed the connection
    assert re.search(r"\(in rank [01]'s task\)$", cause), cause
    assert cause.endswith("(in rank 1's task)") or "rank 1 (" in cause, cause
