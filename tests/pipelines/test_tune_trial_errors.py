"""`fraud-app tune` records a trial that fails (our own error types: a setting the data
refuses, training that diverged; memory; a Spark job that failed in the JVM) and goes on;
a bug of our own code (a TypeError, an AttributeError, ...) stops the tune with its
traceback once the journal holds it. `_trial` caught every Exception: a bug was recorded
as one more failed trial, and with every trial hitting it the tune ended in
`every trial failed` naming a TypeError as if the data were at fault."""

from __future__ import annotations

import json

import pytest

from dlcore.errors import CommunicationError, DivergedError
from fraud_app.errors import SchemaError, TrainingDivergedError
from pipelines.tune import pipeline
from pipelines.tune.pipeline import run_tune, trial_failure
from tests.pipelines import test_tune_journal
from tests.pipelines.test_tune_journal import _cfg

config = test_tune_journal.config  # the fixture: a small feature table and a demo config


@pytest.mark.parametrize(
    "exc, expected",
    [
        (TrainingDivergedError("loss is NaN in group 3"), True),
        (SchemaError("no label column"), True),
        (DivergedError("weight is inf"), True),
        (CommunicationError("peer 1 closed the connection"), True),
        (MemoryError(), True),
        (TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'"), False),
        (AttributeError("'NoneType' object has no attribute 'train'"), False),
        (KeyError("average_precision"), False),
    ],
)
def test_what_counts_as_a_failed_trial(exc, expected):
    assert trial_failure(exc) is expected


@pytest.mark.spark
def test_jvm_failures_count_but_not_a_python_bug_in_a_task_or_a_bad_plan(spark):
    from pyspark.sql import functions as F

    with pytest.raises(Exception) as jvm:  # a failure in the JVM, as a lost executor
        spark.sparkContext._jvm.java.lang.Integer.parseInt("not a number")
    assert type(jvm.value).__name__ == "NumberFormatException" and trial_failure(jvm.value)
    with pytest.raises(Exception) as plan:  # a query our code built wrong: a bug
        spark.range(1).select("no_such_column").collect()
    assert type(plan.value).__name__ == "AnalysisException" and not trial_failure(plan.value)

    def ours(x):
        raise SchemaError(f"row {x} has no amount")

    def bug(x):
        return None + x

    for fn, expected in ((ours, True), (bug, False)):
        with pytest.raises(Exception) as task:
            spark.range(1).select(F.udf(fn, "double")("id")).collect()
        assert trial_failure(task.value) is expected, str(task.value)[-400:]


@pytest.mark.spark
def test_a_failed_trial_is_recorded_and_a_bug_is_raised_once_journaled(
    spark, config, tmp_path, monkeypatch
):
    # trial 0 diverges (a trial failure: the tune goes on); trial 1 meets a bug in our code
    def fit_ensemble(balanced, train, training, *args, **kwargs):
        if training.optimizer.learning_rate == 1e-3:
            raise TrainingDivergedError("member 0: the loss became NaN at iteration 1")
        return None + training.optimizer.learning_rate  # TypeError: a bug

    monkeypatch.setattr(pipeline.nodes, "fit_ensemble", fit_ensemble)
    with pytest.raises(TypeError, match="unsupported operand"):
        run_tune(spark, config, _cfg([1e-3, 3e-3], tmp_path), run="bug1")
    journal = config.paths.local("reports") / "tune-bug1.trials.jsonl"
    records = [json.loads(x) for x in journal.read_text().splitlines()]
    assert [r["trial"] for r in records] == [0, 1]
    assert records[0]["error"].startswith("TrainingDivergedError: member 0")
    assert "bug" not in records[0]
    assert records[1]["error"].startswith("TypeError: unsupported operand") and records[1]["bug"]
    assert not (tmp_path / "best.yaml").exists()
