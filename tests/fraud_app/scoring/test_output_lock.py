"""The scoring job's output lock: a file lock for a local output; a remote one (hdfs://,
s3a://) is not locked, and the job says so at WARNING with what the scheduler must do (it
said 'no job lock is taken' at INFO, which a production log level hides)."""

from __future__ import annotations

import logging

import pytest

from fraud_app.errors import ConcurrentRunError
from fraud_app.scoring.partitions import output_lock


@pytest.mark.parametrize(
    "output",
    # hdfs:/x (one slash: the default name node) was locked as a local folder named hdfs:
    ["s3a://bucket/scores", "hdfs://nn:8020/fraud/scores", "hdfs:/fraud/scores", "gs:/b/s"],
)
def test_a_remote_output_is_not_locked_and_the_log_says_so(output, caplog, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # no lock: a second job beside the first is not refused
    with (
        caplog.at_level(logging.WARNING, logger="fraud_app.scoring.partitions"),
        output_lock(output),
        output_lock(output),
    ):
        pass
    assert [r.levelno for r in caplog.records] == [logging.WARNING] * 2
    assert caplog.records[0].getMessage() == (
        f"scoring output {output} is not local: no job lock is taken. Run one `fraud-app "
        "score` per output at a time (scheduler concurrency 1): a second job beside this one "
        "would take this job's staged dates for a dead job's and delete them"
    )
    assert list(tmp_path.iterdir()) == []  # nothing written locally under a URI-like name


def test_a_local_output_is_locked(tmp_path):
    out = tmp_path / "scores"
    with output_lock(f"file:{out}"):
        assert (out / ".fraud-app.lock").is_file()
        holder = (out / ".fraud-app.lock").read_text()
        assert '"command": "score"' in holder
    assert not (out / ".fraud-app.lock").exists()
    # re-entrant in one process; another process is refused (test_job_partitions.py)
    with output_lock(str(out)), output_lock(str(out)):
        pass


def test_a_stale_lock_of_another_host_is_refused(tmp_path):
    out = tmp_path / "scores"
    out.mkdir()
    (out / ".fraud-app.lock").write_text('{"pid": 1, "host": "elsewhere", "command": "score"}')
    with (
        pytest.raises(ConcurrentRunError, match=r"score \(pid 1 on host elsewhere"),
        output_lock(str(out)),
    ):
        pass
