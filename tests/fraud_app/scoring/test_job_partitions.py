"""The scores table under failures: a killed job leaves the previous partition intact, a
retry of its id scores, a second job on the same output is refused (the `trained`
fixture of conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from fraud_app.scoring.job import run_scoring
from tests.fraud_app.scoring.job_data import ROOT, read_parquet, scores_partition
from tests.processes import held_in_child, kill_group_when

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_a_retry_with_the_killed_jobs_id_scores(spark, trained):
    """The retry's write met the killed run's `new` and stopped with Spark's
    PATH_ALREADY_EXISTS (a JVM trace, exit 1) on every retry of that id."""
    config, day, root = trained["config"], trained["day"], trained["root"]
    left = root / "scores" / "_staging" / "airflow-1" / "new" / f"event_date={day}"
    left.mkdir(parents=True)
    (left / "part-00000-dead.parquet").write_text("half a file of the killed run")
    result = run_scoring(spark, config, start=day, end=day, model_uri=trained["model"],
                         job_id="airflow-1")  # fmt: skip
    assert result.summary["dates"][0]["rows"] > 0
    assert not (root / "scores" / "_staging").exists()
    assert len(read_parquet(scores_partition(root, day))) == result.summary["dates"][0]["rows"]


def test_killed_job_leaves_the_previous_partition_intact(spark, trained, tmp_path):
    config, day, root = trained["config"], trained["day"], trained["root"]
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    before = read_parquet(scores_partition(root, day)).drop(columns="scored_at")
    cfg = tmp_path / "cfg.yaml"
    data = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    data["paths"]["root"] = str(root)
    data["features"]["spec_dir"] = str(ROOT / "feature_specs")
    cfg.write_text(yaml.safe_dump(data))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "pipelines.cli", "-c", str(cfg), "--log-level", "WARNING",
           "score", "--date", str(day), "--model", trained["model"], "--job-id", "killed"]  # fmt: skip
    log = (tmp_path / "score.log").open("w")
    # its own process group: the kill takes the job's JVM too, as a scheduler killing the
    # job's container would (a JVM left running could still write a task's file into
    # _staging after the clean-up below)
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    staging = root / "scores" / "_staging" / "killed" / "new"
    killed_mid_write = kill_group_when(proc, staging.exists, poll=0.02, wait=30)
    log.close()
    tail = (tmp_path / "score.log").read_text()[-3000:]
    assert killed_mid_write, f"the job ended before its write started; nothing was tested:\n{tail}"
    after = read_parquet(scores_partition(root, day)).drop(columns="scored_at")
    assert after.equals(before)  # readable, complete, the previous content
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])  # cleans up
    assert not (root / "scores" / "_staging").exists()


def test_a_second_job_on_the_same_output_is_refused(spark, trained):
    """Two jobs on one output (a scheduler's retry beside a slow run, a parallel backfill):
    the second one's recover() took the first one's staging for a dead job's and deleted
    it (its write then failed or lost files), or restored a date the first one was
    swapping. Now it is refused, naming the holder, and touches nothing."""
    from fraud_app.errors import ConcurrentRunError

    config, day, root = trained["config"], trained["day"], trained["root"]
    out = root / "scores"
    running = out / "_staging" / "running-job" / "new" / "event_date=2024-01-02"
    running.mkdir(parents=True)
    (running / "part-0.parquet").write_text("being written")
    lock = f"from fraud_app.scoring.partitions import output_lock\noutput_lock({str(out)!r})"
    with held_in_child(lock) as proc:
        with pytest.raises(ConcurrentRunError, match=f"writing to {out}: score \\(pid {proc.pid}"):
            run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
        assert (running / "part-0.parquet").read_text() == "being written"
    shutil.rmtree(out / "_staging")
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])  # lock released
    assert not (out / ".fraud-app.lock").exists()
