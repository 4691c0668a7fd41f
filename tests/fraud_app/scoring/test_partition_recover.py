"""Recovering the scoring output after a killed job: a date partition left between the two
renames of its swap comes back (real Spark file system, real folders)."""

from __future__ import annotations

import pytest

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.partition_swap import PartitionSwap

pytestmark = pytest.mark.spark


def test_recover_restores_a_partition_left_between_the_two_renames(spark, tmp_path):
    out = tmp_path / "scores"
    (out / "_staging" / "deadjob" / "old" / "event_date=2024-01-02").mkdir(parents=True)
    (out / "_staging" / "deadjob" / "old" / "event_date=2024-01-02" / "part-0.parquet").write_text(
        "x"
    )
    (out / "_staging" / "deadjob" / "new" / "event_date=2024-01-02").mkdir(parents=True)
    restored = PartitionSwap(HadoopFs(spark), str(out), "me").recover()
    assert restored == ["event_date=2024-01-02"]
    assert (out / "event_date=2024-01-02" / "part-0.parquet").read_text() == "x"
    assert not (out / "_staging" / "deadjob").exists()


def test_recover_takes_back_a_killed_run_of_the_same_job_id(spark, tmp_path):
    """A scheduler retries a killed job with the same --job-id (Airflow's run id): its
    staging was skipped as this job's own, so a date left between the two renames stayed
    in `old` (then deleted with the retry's clean-up: data lost)."""
    out = tmp_path / "scores"
    old = out / "_staging" / "retry" / "old" / "event_date=2024-01-02"
    old.mkdir(parents=True)
    (old / "part-0.parquet").write_text("x")
    (out / "_staging" / "retry" / "new" / "event_date=2024-01-03").mkdir(parents=True)
    restored = PartitionSwap(HadoopFs(spark), str(out), "retry").recover()
    assert restored == ["event_date=2024-01-02"]
    assert (out / "event_date=2024-01-02" / "part-0.parquet").read_text() == "x"
    assert not (out / "_staging" / "retry").exists()
