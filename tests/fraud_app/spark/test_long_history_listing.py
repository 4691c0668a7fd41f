"""A table of more dates than `spark.sql.sources.parallelPartitionDiscovery.threshold` (512
folders, ~1.4 years of days) is listed by a Spark job on every read. Spark gives that job
one task per folder (its `parallelism` default is 10,000): 1,000 dates were a 1,000-task
job per read, ~10 s of the 12 s a read of the canonical table took on local[2] (session 30,
helper probe30a). The session caps the job's tasks (`LISTING_TASKS`), so a long history is
listed in as many tasks as a few months' is."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

from fraud_app.spark.session import DEFAULT_CONF

LISTING_TASKS = 64  # DEFAULT_CONF's spark.sql.sources.parallelPartitionDiscovery.parallelism


def _date_table(root, days: int) -> str:
    """`days` event_date folders of one row each, written with pyarrow (no Spark job)."""
    first = dt.date(2021, 1, 1)
    for i in range(days):
        day = first + dt.timedelta(days=i)
        folder = root / f"event_date={day.isoformat()}"
        folder.mkdir(parents=True)
        pq.write_table(
            pa.table({"transaction_id": [f"t{i}"], "amount": [1.0]}), folder / "p.parquet"
        )
    return str(root)


def test_reading_a_table_of_many_dates_lists_it_in_few_tasks(spark, tmp_path):
    days = 600  # above the driver-side listing threshold (512)
    assert days > int(DEFAULT_CONF["spark.sql.sources.parallelPartitionDiscovery.threshold"])
    path = _date_table(tmp_path / "table", days)
    sc = spark.sparkContext
    group = "many-dates-listing"
    sc.setJobGroup(group, "read a table of 600 dates")
    try:
        df = spark.read.parquet(path)
    finally:
        sc.setJobGroup("", "")
    tracker = sc.statusTracker()
    jobs = [tracker.getJobInfo(j) for j in tracker.getJobIdsForGroup(group)]
    tasks = [tracker.getStageInfo(s).numTasks for j in jobs for s in j.stageIds]
    assert tasks, "the listing of 600 folders ran no Spark job: the threshold changed?"
    # was: one job of 600 tasks (one per folder)
    assert max(tasks) <= LISTING_TASKS < days, tasks
    assert df.count() == days  # every date found
