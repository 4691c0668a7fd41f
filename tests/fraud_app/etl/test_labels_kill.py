"""`fraud-app labels` killed with SIGKILL between the two renames of a date (a real child
process and its JVM, killed as a scheduler or the OOM killer would): readers refuse the
half-updated table naming the label run, every partition file left reads, and the re-run
of the same feed recovers and finishes it (the dates already swapped in are unchanged,
the others filled, the quarantine rows in once).

The child pauses at the kill point (HadoopFs.rename wrapped to signal and sleep there, as
tests/fraud_app/etl/test_append_kill.py does); the kill is real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.fs import read_table
from fraud_app.etl.labels import run_labels
from tests.fraud_app.etl.test_labels_feed import (
    _config,
    _feed,
    _labels,
    _root,
    publish_transactions,
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


def test_sigkill_between_renames_is_refused_by_readers_and_the_rerun_finishes(spark, tmp_path):
    root = _root(publish_transactions(spark, tmp_path / "base"), tmp_path)
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
    assert (again.labels_filled, again.labels_unchanged) == (2, 1)  # t1 was swapped in
    assert again.partitions_rewritten == ("2024-01-06", "2024-01-07")
    labels = _labels(spark, again)
    assert {t: v[0] for t, v in labels.items()} == {"t1": 1, "t2": 0, "t3": 0, "t4": 1, "t5": 1}
    quarantined = [
        q.raw_transaction_id for q in spark.read.parquet(again.quarantine_path).collect()
    ]
    assert quarantined == ["t9"]  # once: the killed run's file never went in
    assert not (table / "_staging").exists()
    assert read_table(spark, str(table), "canonical table", "etl").count() == 5
