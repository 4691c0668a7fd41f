"""The MLlib baselines fit on a sample cached in one partition per core (session 24).

Every L-BFGS evaluation and every GBT tree level is a Spark job with one task per
partition of the cached sample; the sample used to keep the feature table's scan
partitions (11 at 1M rows on 2 cores), so each job ran 11 tasks."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from fraud_app.baselines.config import BaselinesSection
from fraud_app.baselines.spark import train_baselines

pytestmark = pytest.mark.spark


def _frame(spark, partitions: int, rows: int = 1_200):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(rows, 4))
    y = (X[:, 0] + 0.5 * rng.normal(size=rows) > 1.2).astype(int)
    data = [(i, [float(v) for v in X[i]], int(y[i])) for i in range(rows)]
    rdd = spark.sparkContext.parallelize(data, partitions)  # partitions without a shuffle,
    return spark.createDataFrame(rdd, "id long, features array<double>, label int")  # as a scan


def _max_tasks_of(spark, group: str) -> int:
    tracker = spark.sparkContext.statusTracker()
    stages = [
        s
        for job in tracker.getJobIdsForGroup(group)
        if (info := tracker.getJobInfo(job)) is not None
        for s in info.stageIds
    ]
    tasks = [info.numTasks for s in stages if (info := tracker.getStageInfo(s)) is not None]
    assert tasks, f"no stage of job group {group} was recorded"
    return max(tasks)


def test_baseline_jobs_run_one_task_per_core_not_per_scan_partition(spark):
    df = _frame(spark, partitions=7)
    cores = spark.sparkContext.defaultParallelism
    assert df.rdd.getNumPartitions() == 7 > cores
    cfg = BaselinesSection(
        normal_fraction=0.5, logreg={"max_iter": 5}, gbt={"max_iter": 2, "max_depth": 2}
    )
    group = f"baselines-{uuid.uuid4().hex}"
    spark.sparkContext.setJobGroup(group, "baseline fits")
    try:
        fitted = train_baselines(df.cache(), cfg, features_col="features")
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
        df.unpersist()
    assert [b.name for b in fitted] == ["logreg", "gbt"]
    # every job of the fits (the sample's count, L-BFGS evaluations, tree levels) ran on
    # the cached sample's partitions: at most one per core (the old code: 7 per job)
    assert _max_tasks_of(spark, group) <= cores
    assert all(b.rows == fitted[0].rows > 0 for b in fitted)


@pytest.mark.parametrize("fraction", [1e-300, 1e-9])
def test_a_training_sample_without_normals_is_refused(spark, fraction):
    # a normal_fraction that keeps no normal: both baselines fitted on frauds only and
    # scored every row the same (logreg 1.0, GBT 0.89): AUC 0.5, AP the fraud rate,
    # reported beside the ensemble as the baselines' figures without a word
    from fraud_app.errors import EmptyInputError

    df = _frame(spark, partitions=2, rows=300)
    cfg = BaselinesSection(
        normal_fraction=fraction, logreg={"max_iter": 5}, gbt={"max_iter": 2, "max_depth": 2}
    )
    with pytest.raises(EmptyInputError, match=(
        rf"baselines: their training sample \(\d+ rows: every fraud of the training window "
        rf"and baselines.normal_fraction {fraction:g} of its normals, seed 0\) holds no normal "
        r"\(label != 1\) row; a baseline fitted on one class scores every row the same"
    )):  # fmt: skip
        train_baselines(df, cfg, features_col="features")
