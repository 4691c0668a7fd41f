"""The retry of an `etl --mode append` killed inside its commit reports the delivery as the
uninterrupted run does.

The retry used to take the killed run's swapped-in dates as published: their rows
counted as `duplicate_rows` (session 38: "625 duplicates" of a 625-row delivery killed after
its report was written, over the killed run's complete, correct report), `previous_rows`
held them, and the operator read duplicates that the delivery did not hold. The retry now
takes the killed run's dates back out first (AppendPublish._roll_back) and publishes the
delivery itself. The kill is real (SIGKILL of the `fraud-app etl` process group, JVM
included), at a point where the child pauses (tests/fraud_app/etl/test_append_kill.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.table_read import read_table
from tests.fraud_app.etl.test_append_incremental import _cfg, _first_delivery, _row, _table, _write
from tests.processes import kill_group_when

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # a second JVM: ~1 min on a loaded machine
REPO = Path(__file__).resolve().parents[3]
COUNTS = ("input_rows", "output_rows", "previous_rows", "quarantine_rows", "duplicate_rows",
          "quarantine_by_reason", "unlabelled_rows", "labels_filled", "backfilled_dates")  # fmt: skip

CHILD = """
import sys, time
from fraud_app.etl.fs import HadoopFs
from pipelines.cli import main

point, flag = sys.argv[1], sys.argv[2]
real_rename, real_write = HadoopFs.rename, HadoopFs.write_text


def pause():
    open(flag, "w").write("paused")
    time.sleep(900)


def rename(self, src, dst):
    if point == "between_renames" and src.endswith("/event_date=2024-01-02") and "/old/" in dst:
        real_rename(self, src, dst)  # 01-01 swapped in, 01-02 only in `old`
        pause()
    return real_rename(self, src, dst)


def write_text(self, path, text):
    real_write(self, path, text)
    if point == "after_report" and path.endswith("/_etl_report.json"):
        pause()  # the change whole, its report written, its marker not yet removed


HadoopFs.rename, HadoopFs.write_text = rename, write_text
sys.exit(main(sys.argv[3:]))
"""


def _counts(report: dict) -> dict:
    """The report's counts as its JSON file holds them (lists, not tuples)."""
    return json.loads(json.dumps({k: report[k] for k in COUNTS}))


def _killed_at(tmp_path: Path, cfg, point: str) -> tuple[bool, str]:
    config = tmp_path / "etl.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    flag = tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING"}
    with (tmp_path / "etl.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, point, str(flag), "-c", str(config),
             "--master", "local[1]", "etl"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        return kill_group_when(proc, flag.exists), (tmp_path / "etl.log").read_text()[-3000:]


def _before_the_kill(spark, tmp_path: Path, rows: list[str]):
    """The first delivery published, the second (`rows`) written, and a copy of that state
    for the uninterrupted run: (first report, table, delivery, its config, the copy)."""
    first = run_etl(spark, _cfg(tmp_path, _first_delivery(tmp_path)))
    delivery = _write(tmp_path / "d2" / "b.csv", rows)
    clean = tmp_path / "clean"
    shutil.copytree(tmp_path / "work", clean / "work")
    return first, Path(first.output_path), delivery, _cfg(tmp_path, delivery), clean


@pytest.mark.parametrize("point", ["between_renames", "after_report"])
def test_the_retry_of_a_killed_append_reports_the_delivery_as_the_uninterrupted_run(
    spark, tmp_path, point
):
    # 01-01 and 01-02 gain a row each, 01-06 is new, one bad row
    rows = [_row("t40", 1), _row("t41", 2), _row("t42", 6), _row("bad2", 6, "z")]
    # the uninterrupted run, on a copy of the state before the kill
    first, table, delivery, cfg, clean = _before_the_kill(spark, tmp_path, rows)
    uninterrupted = run_etl(spark, _cfg(clean, delivery)).to_dict()
    assert uninterrupted["duplicate_rows"] == 0 and uninterrupted["previous_rows"] == 8

    paused, tail = _killed_at(tmp_path, cfg, point)
    assert paused, f"the child never reached the kill point; nothing was tested:\n{tail}"
    retry = run_etl(spark, cfg).to_dict()

    # before: between_renames 1 duplicate (t40, swapped in on 01-01), previous_rows 9;
    # after_report 3 duplicates, 0 added, previous_rows 11, over the killed run's report
    assert _counts(retry) == _counts(uninterrupted)
    assert _counts(json.loads((table / "_etl_report.json").read_text())) == _counts(uninterrupted)
    assert _table(spark, str(table)) == _table(spark, uninterrupted["output_path"])
    quarantined = spark.read.parquet(first.quarantine_path).collect()
    assert sorted(q.raw_transaction_id for q in quarantined) == ["bad0", "bad2"]
    assert not (table / "_staging").exists()
    assert read_table(spark, str(table), "canonical table", "etl").count() == 11


def test_a_killed_append_abandoned_for_its_corrected_delivery_publishes_the_correction(
    spark, tmp_path
):
    """The delivery exported again, corrected, in place (t40's amount 1.5 -> 2.5: the same
    size), after its run was killed with t40's date swapped in: refused as another input
    (its contents differ), then, the killed run abandoned, published as the uninterrupted
    run of the corrected delivery would have (the killed run's t40 was kept and the
    correction was a conflicting duplicate, or, taken for the same input, a duplicate)."""
    rows = [_row("t40", 1), _row("t41", 2), _row("t42", 6)]
    _, table, delivery, cfg, clean = _before_the_kill(spark, tmp_path, rows)
    paused, tail = _killed_at(tmp_path, cfg, "between_renames")
    assert paused, f"the child never reached the kill point; nothing was tested:\n{tail}"

    _write(delivery, [_row("t40", 1, "2.5"), _row("t41", 2), _row("t42", 6)])
    with pytest.raises(DataIntegrityError, match="the same names and sizes, other contents"):
        run_etl(spark, cfg)
    (marker,) = table.glob("_staging/etl-*/_committing.json")
    marker.rename(marker.parent / "_abandoned.json")
    retry = run_etl(spark, cfg).to_dict()

    uninterrupted = run_etl(spark, _cfg(clean, delivery)).to_dict()
    assert _counts(retry) == _counts(uninterrupted)
    assert _table(spark, str(table)) == _table(spark, uninterrupted["output_path"])
    amounts = {r.transaction_id: r.amount for r in spark.read.parquet(str(table)).collect()}
    assert amounts["t40"] == 2.5


def test_the_retry_rolls_back_where_the_cluster_writes_no_success_files(spark, tmp_path):
    """`mapreduce.fileoutputcommitter.marksuccessfuljobs: false` (a cluster that keeps
    `_SUCCESS` files out of its tables): the killed run's staging held no `new/_SUCCESS`,
    which PartitionSwap.undo took for "nothing swapped". Before: the retry kept t40 on
    01-01 and counted it a duplicate (1 duplicate, previous_rows 9), under an error message
    of the kill that said the retry takes the killed run's dates back out."""
    no_success = {"spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false"}
    rows = [_row("t40", 1), _row("t41", 2), _row("t42", 6)]
    _, table, delivery, cfg, clean = _before_the_kill(spark, tmp_path, rows)
    uninterrupted = run_etl(spark, _cfg(clean, delivery)).to_dict()
    killed_cfg = cfg.model_copy(update={"spark": cfg.spark.model_copy(update={"conf": no_success})})
    paused, tail = _killed_at(tmp_path, killed_cfg, "between_renames")
    assert paused, f"the child never reached the kill point; nothing was tested:\n{tail}"
    (staging,) = table.glob("_staging/etl-*")
    assert not (staging / "new" / "_SUCCESS").exists()  # what that setting leaves

    retry = run_etl(spark, cfg).to_dict()

    assert _counts(retry) == _counts(uninterrupted)  # before: 1 duplicate, previous_rows 9
    assert _table(spark, str(table)) == _table(spark, uninterrupted["output_path"])
