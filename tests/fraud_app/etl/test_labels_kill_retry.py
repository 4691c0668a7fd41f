"""`fraud-app labels` killed with SIGKILL inside its commit (a real child process and its
JVM, paused at the point and killed as a group), then run again on the same feed: the
retry's report, table, ledger and quarantine equal an uninterrupted run's on a copy of
the state before the kill (session 40).

Before: the retry kept what the killed run had committed (its ledger file, the dates it
had swapped in) and counted the killed run's fills as `labels_unchanged` and its ledger
entries as recorded (`ledger_entries_added` 0 for 2); the session-39 rollback of a killed
`etl --mode append` (PartitionSwap.undo) did not apply to `labels`. Kill points: after its
ledger file moved in (before any swap), between the two renames of a date, after its
report was written (marker not yet removed), and between renames after a ledger
compaction (etl.compact_files 2: the two earlier ledger files replaced by one whole file)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.labels import run_labels
from fraud_app.etl.ledger import read_ledger
from tests.fraud_app.etl.test_labels_feed import (
    _config,
    _feed,
    _labels,
    _quarantine,
    _root,
)
from tests.processes import kill_group_when

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # a second JVM: minutes on a loaded machine
REPO = Path(__file__).resolve().parents[3]

CHILD = """
import sys, time
from fraud_app.etl.fs import HadoopFs
from pipelines.cli import main

point, flag = sys.argv[1], sys.argv[2]
rename, write_text = HadoopFs.rename, HadoopFs.write_text


def pause():
    open(flag, "w").write("paused")
    time.sleep(900)


def paused_rename(self, src, dst):
    out = rename(self, src, dst)
    if point == "after_ledger" and "/_labels_ledger/" in dst:
        pause()  # its ledger file moved in, no date swapped
    if point == "between_renames" and src.endswith("/event_date=2024-01-06") and "/old/" in dst:
        pause()  # the date's first rename done, its second not
    if point == "compacted" and src.endswith("/event_date=2024-01-07") and "/old/" in dst:
        pause()  # 01-07 between its renames, the ledger compacted (2 files in 1)
    return out


def paused_write_text(self, path, text):
    out = write_text(self, path, text)
    if point == "after_report" and path.endswith("/_labels_report.json"):
        pause()  # the report written, the commit marker not yet removed
    return out


HadoopFs.rename, HadoopFs.write_text = paused_rename, paused_write_text
sys.exit(main(sys.argv[3:]))
"""

FEED = "transaction_id,label\nt1,1\nt3,0\nt4,1\nt9,1\n"
DROP = ("input_paths", "output_path", "quarantine_path", "report_path", "seconds")


def _state(spark, root: Path, result) -> dict:
    """What a run leaves, without its paths, times and job ids."""
    table = str(root / "canonical")
    ledger = read_ledger(spark, HadoopFs(spark), table)
    entries = sorted(
        (r.transaction_id, r.label, r.kind, r.previous_label)
        for r in (ledger.collect() if ledger is not None else [])
    )
    report = {k: v for k, v in result.to_dict().items() if k not in DROP}
    state = {"report": report, "labels": _labels(spark, result), "ledger": entries,
             "quarantine": sorted(_quarantine(spark, result))}  # fmt: skip
    return json.loads(json.dumps(state).replace(str(root), "<root>"))  # messages name it


@pytest.mark.parametrize("point", ["after_ledger", "between_renames", "after_report", "compacted"])
def test_the_retry_of_a_killed_labels_run_equals_an_uninterrupted_run(
    spark, transactions_published, tmp_path, point
):
    root = _root(transactions_published, tmp_path)
    etl = {"compact_files": 2} if point == "compacted" else {}
    feed = FEED
    if point == "compacted":  # two earlier feeds' ledger files, which this run compacts
        for name, text in (("first.csv", "t1,1\n"), ("second.csv", "t3,0\n")):
            run_labels(spark, _config(root, **etl), [_feed(tmp_path, f"transaction_id,label\n{text}", name)])  # fmt: skip
        feed = "transaction_id,label\nt4,1\nt9,1\n"
    feed = _feed(tmp_path, feed)
    reference = tmp_path / "reference"
    shutil.copytree(root, reference)  # the state before the kill, for the uninterrupted run
    config = tmp_path / "labels.yaml"
    config.write_text(yaml.safe_dump(_config(root, **etl).model_dump(mode="json")))
    flag = tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING"}
    with (tmp_path / "labels.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, point, str(flag), "-c", str(config),
             "--master", "local[1]", "labels", feed],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        paused = kill_group_when(proc, flag.exists)
    tail = (tmp_path / "labels.log").read_text()[-3000:]
    assert paused, f"the child never reached the kill point; nothing was tested:\n{tail}"

    retry = run_labels(spark, _config(root, **etl), [feed])
    whole = run_labels(spark, _config(reference, **etl), [feed])

    got, want = _state(spark, root, retry), _state(spark, reference, whole)
    assert got["report"] == want["report"]  # was: the killed run's fills `unchanged`
    assert got["labels"] == want["labels"]
    assert got["ledger"] == want["ledger"]  # each entry once, none lost
    assert got["quarantine"] == want["quarantine"]  # t9 once
    assert not (root / "canonical" / "_staging").exists()
