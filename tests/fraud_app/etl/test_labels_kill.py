"""`fraud-app labels` killed with SIGKILL between the two renames of a date (a real child
process and its JVM, killed as a scheduler or the OOM killer would): readers refuse the
half-updated table naming the label run, every partition file left reads, and the re-run
of the same feed recovers and finishes it (the dates already swapped in taken back out
and the feed applied whole, the quarantine rows in once).

The child pauses at the kill point (HadoopFs.rename wrapped to signal and sleep there, as
tests/fraud_app/etl/test_append_kill.py does); the kill is real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.labels import run_labels
from fraud_app.etl.table_read import read_table
from tests.fraud_app.etl.test_labels_feed import (
    _config,
    _feed,
    _labels,
    _root,
)
from tests.processes import kill_group_when

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # a second JVM: minutes on a loaded machine
REPO = Path(__file__).resolve().parents[3]

CHILD = """
import sys, time
from fraud_app.etl.fs import HadoopFs
from pipelines.cli import main

day, flag = sys.argv[1], sys.argv[2]
real = HadoopFs.rename


def rename(self, src, dst):
    if src.endswith("/event_date=" + day) and "/old/" in dst:
        real(self, src, dst)  # the date's first rename done, its second not
        open(flag, "w").write("paused")
        time.sleep(900)
    return real(self, src, dst)


HadoopFs.rename = rename
sys.exit(main(sys.argv[3:]))
"""


def test_sigkill_between_renames_is_refused_by_readers_and_the_rerun_finishes(
    spark, transactions_published, tmp_path
):
    root = _root(transactions_published, tmp_path)
    feed = _feed(tmp_path, "transaction_id,label\nt1,1\nt3,0\nt4,1\nt9,1\n")
    config = tmp_path / "labels.yaml"
    config.write_text(yaml.safe_dump(_config(root).model_dump(mode="json")))
    flag = tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING"}
    with (tmp_path / "labels.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, "2024-01-06", str(flag), "-c", str(config),
             "--master", "local[1]", "labels", feed],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        paused = kill_group_when(proc, flag.exists)
    tail = (tmp_path / "labels.log").read_text()[-3000:]
    assert paused, f"the child never reached the kill point; nothing was tested:\n{tail}"

    table = root / "canonical"
    with pytest.raises(DataIntegrityError, match=(
        rf"^canonical table {table} is half-updated: job labels-\w+ \(pid \d+, started \S+\) "
        r"was killed while swapping in dates 2024-01-05, 2024-01-06, 2024-01-07; "
        r"event_date=2024-01-06 only in .*/old \(a `fraud-app labels` run: run it again on "
        r"the same feed\)")):  # fmt: skip
        read_table(spark, str(table), "canonical table", "etl")
    for part in sorted(table.glob("event_date=*")):
        spark.read.parquet(str(part)).count()

    again = run_labels(spark, _config(root), [feed])
    # the killed run's 01-05 (t1) taken back out: the feed counted as the uninterrupted run
    # counts it (session 40; was (2, 1), t1 `unchanged`, and 01-06, 01-07 rewritten)
    assert (again.labels_filled, again.labels_unchanged) == (3, 0)
    assert again.partitions_rewritten == ("2024-01-05", "2024-01-06", "2024-01-07")
    labels = _labels(spark, again)
    assert {t: v[0] for t, v in labels.items()} == {"t1": 1, "t2": 0, "t3": 0, "t4": 1, "t5": 1}
    quarantined = [
        q.raw_transaction_id for q in spark.read.parquet(again.quarantine_path).collect()
    ]
    assert quarantined == ["t9"]  # once: the killed run's file never went in
    assert not (table / "_staging").exists()
    assert read_table(spark, str(table), "canonical table", "etl").count() == 5


TERM_CHILD = """
import os, sys, time
from fraud_app import interrupts
from fraud_app.etl.fs import HadoopFs
from pipelines.cli import main

day, flag, go, termed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
real, real_stop = HadoopFs.rename, interrupts.stop


def rename(self, src, dst):
    if src.endswith("/event_date=" + day) and "/old/" in dst:
        real(self, src, dst)  # the date's first rename done, its second not
        open(flag, "w").write("paused")
        while not os.path.exists(go):  # until the test has sent its SIGTERM
            time.sleep(0.05)
        return None  # then on to the date's second rename
    return real(self, src, dst)


def stop(signum):
    open(termed, "w").write(str(signum))  # the handler ran (the stop may be held back)
    return real_stop(signum)


HadoopFs.rename = rename
interrupts.stop = stop
sys.exit(main(sys.argv[5:]))
"""


@pytest.mark.parametrize("group", [False, True], ids=["process", "process-group"])
def test_sigterm_between_renames_leaves_a_readable_table_or_one_the_rerun_finishes(
    spark, transactions_published, tmp_path, group
):
    """SIGTERM to the process: the stop waits for the commit (fraud_app.interrupts), so the
    table is the feed's, whole, and exit 143. To the process group, as a scheduler sends it:
    the JVM may be gone before the second rename; then readers refuse the table naming the
    labels run, and the re-run of the feed finishes it. Either way no row is lost and the
    quarantine holds each bad row once."""
    root = _root(transactions_published, tmp_path)
    feed = _feed(tmp_path, "transaction_id,label\nt1,1\nt3,0\nt4,1\nt9,1\n")
    config = tmp_path / "labels.yaml"
    config.write_text(yaml.safe_dump(_config(root).model_dump(mode="json")))
    flag, go, termed = tmp_path / "paused", tmp_path / "go", tmp_path / "termed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-c", TERM_CHILD, "2024-01-06", str(flag), str(go), str(termed),
         "-c", str(config), "--master", "local[1]", "labels", feed],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 900
    while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a child process under a deadline
    if not flag.exists():
        proc.kill()
        pytest.fail(f"the child never reached the swap; nothing was tested:\n{proc.communicate()}")
    if group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    while not termed.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    go.write_text("go")
    out, err = proc.communicate(timeout=300)
    assert out == ""  # stopped: no summary line
    assert proc.returncode == 143, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert not (root / ".fraud-app.lock").exists()

    table = root / "canonical"
    for part in sorted(table.glob("event_date=*")):
        spark.read.parquet(str(part)).count()  # every partition file left reads
    try:
        read_table(spark, str(table), "canonical table", "etl")
        complete = True
    except DataIntegrityError as exc:
        assert group, f"only a JVM stopped with the process can leave the swap unfinished: {err}"
        assert "a `fraud-app labels` run: run it again on the same feed" in str(exc)
        complete = False
    # the line tells what was committed: it said "before it finished: nothing is left
    # half-written" also after a complete commit (and after one the JVM's end cut short)
    if complete:
        assert errors == [
            f"error: fraud-app labels was terminated (SIGTERM) after it committed the label "
            f"feed: 3 date partition(s) of {table}, its quarantine rows and its report "
            f"{table}/_labels_report.json (complete: running it again on the same feed is "
            "not needed); what came after it was not done (nothing of it is half-written; its "
            "summary was not printed) and its locks are released"
        ], err[-3000:]
    else:
        assert errors == [
            f"error: fraud-app labels was terminated (SIGTERM) inside a commit: not committed: "
            f"the label feed into {table}: stopped inside its swaps; readers refuse {table} "
            "until `fraud-app labels` on the same feed runs again and finishes it"
        ], err[-3000:]
    if not group:  # the commit went through before the stop: the table is the feed's
        assert complete and not (table / "_staging").exists()
        rows = spark.read.parquet(str(table)).collect()
        assert {x.transaction_id: x.label for x in rows} == FILLED
    again = run_labels(spark, _config(root), [feed])
    assert again.labels_filled + again.labels_unchanged == 3
    assert {t: v[0] for t, v in _labels(spark, again).items()} == FILLED
    assert [q.raw_transaction_id for q in spark.read.parquet(again.quarantine_path).collect()] == [
        "t9"
    ]
    assert not (table / "_staging").exists()


FILLED = {"t1": 1, "t2": 0, "t3": 0, "t4": 1, "t5": 1}
