"""`etl.mode: append` killed with SIGKILL inside its swap (a real `fraud-app etl` process,
its JVM in the same process group, killed as a scheduler or the OOM killer would): no
reader gets a table a date short or half a delivery, every file left is readable, and the
re-run finishes the delivery exactly once (its bad rows were quarantined twice when the
kill came after the quarantine file was added, before the report).

The child pauses at the kill point (it wraps HadoopFs.rename to signal and sleep there:
the only way to hit a point between two renames every time); the kill is real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.table_read import read_table
from tests.fraud_app.etl.test_append_incremental import (
    HEADER,
    _cfg,
    _first_delivery,
    _old_append,
    _row,
    _table,
    _write,
)
from tests.processes import kill_group_when

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # a second JVM: ~1 min on a loaded machine
REPO = Path(__file__).resolve().parents[3]

CHILD = """
import sys, time
from fraud_app.etl.fs import HadoopFs
from pipelines.cli import main

point, day, flag = sys.argv[1], sys.argv[2], sys.argv[3]
real = HadoopFs.rename


def pause():
    open(flag, "w").write("paused")
    time.sleep(900)


def rename(self, src, dst):
    if point == "between_renames" and src.endswith("/event_date=" + day) and "/old/" in dst:
        real(self, src, dst)  # the date's first rename done, its second not
        pause()
    if point == "before_quarantine" and "/quarantine/" in dst and "_staging" in src:
        pause()  # every date swapped in, the quarantine file and report not yet
    return real(self, src, dst)


real_write = HadoopFs.write_text


def write_text(self, path, text):
    if point == "before_report" and path.endswith("/_etl_report.json"):
        pause()  # the dates and the quarantine file in, the report not yet
    return real_write(self, path, text)


HadoopFs.rename = rename
HadoopFs.write_text = write_text
sys.exit(main(sys.argv[4:]))
"""


@pytest.mark.parametrize("point", ["between_renames", "before_quarantine", "before_report"])
def test_sigkill_inside_the_append_swap_is_refused_by_readers_and_converges(spark, tmp_path, point):
    first = run_etl(spark, _cfg(tmp_path, _first_delivery(tmp_path)))
    table, quarantine = Path(first.output_path), Path(first.quarantine_path)
    # 01-01 and 01-02 gain a row each (in that order), 01-06 is new, one bad row
    delivery = [_row("t40", 1), _row("t41", 2), _row("t42", 6), _row("bad2", 6, "z")]
    cfg = _cfg(tmp_path, _write(tmp_path / "d2" / "b.csv", delivery))
    expected, _ = _old_append(spark, cfg, str(table))
    paused, tail = _start(tmp_path, cfg, point)
    assert paused, f"the child never reached the kill point; nothing was tested:\n{tail}"

    # a reader (features, validate, score) refuses the half-updated table, naming the fix;
    # before, it read it: 01-02 missing (between_renames), or t40..t42 in without bad2
    with pytest.raises(DataIntegrityError, match=(
        rf"^canonical table {table} is half-updated: job etl-\w+ \(pid \d+, started \S+\) "
        r"was killed while swapping in dates 2024-01-01, 2024-01-02, 2024-01-06.*Run "
        r"`fraud-app etl` again \(the same input\): it puts back")):  # fmt: skip
        read_table(spark, str(table), "canonical table", "etl")
    # every file left is whole: each partition still in place reads
    for part in sorted(table.glob("event_date=*")):
        spark.read.parquet(str(part)).count()

    again = run_etl(spark, cfg)

    assert _table(spark, again.output_path) == expected
    bad = sorted(q.raw_transaction_id for q in spark.read.parquet(str(quarantine)).collect())
    assert bad == ["bad0", "bad2"]  # once: a killed run's quarantine file is taken back out
    assert not (table / "_staging").exists() and not (quarantine / "_staging").exists()
    assert read_table(spark, str(table), "canonical table", "etl").count() == len(expected)


def _start(tmp_path, cfg, point: str, day: str = "2024-01-02"):
    """The `fraud-app etl` child of `cfg`, paused at `point`, then SIGKILLed; True: reached."""
    config = tmp_path / "etl.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    flag = tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING"}
    with (tmp_path / "etl.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, point, day, str(flag), "-c", str(config),
             "--master", "local[1]", "etl"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        return kill_group_when(proc, flag.exists), (tmp_path / "etl.log").read_text()[-3000:]


def test_sigkill_after_a_delivery_that_widens_the_quarantine_quarantines_its_rows_once(
    spark, tmp_path
):
    """A delivery with a column the quarantine lacks rewrites the quarantine's earlier
    rows; its own bad rows still go in as a file of its own, which the re-run after a kill
    takes back out (the rewrite held them, and the re-run added them a second time)."""
    first = run_etl(spark, _cfg(tmp_path, _first_delivery(tmp_path)))
    table, quarantine = Path(first.output_path), Path(first.quarantine_path)
    wider = tmp_path / "d2" / "b.csv"
    wider.parent.mkdir()
    wider.write_text(f"{HEADER},device_id\n{_row('bad2', 6, 'q')},dev2\n{_row('t40', 6)},dev4\n")
    cfg = _cfg(tmp_path, wider)
    expected, _ = _old_append(spark, cfg, str(table))
    paused, tail = _start(tmp_path, cfg, "before_report")
    assert paused, f"the child never reached the kill point; nothing was tested:\n{tail}"

    again = run_etl(spark, cfg)

    assert _table(spark, again.output_path) == expected
    rows = spark.read.parquet(str(quarantine)).collect()
    assert sorted(q.raw_transaction_id for q in rows) == ["bad0", "bad2"]
    assert {q.raw_transaction_id: q.raw_device_id for q in rows} == {"bad0": None, "bad2": "dev2"}
    files = sorted(quarantine.glob("*.parquet"))
    assert len({tuple(spark.read.parquet(str(f)).columns) for f in files}) == 1
    assert not (quarantine / "_staging").exists()
    assert not list(quarantine.parent.glob(f"{quarantine.name}.*"))  # no staged copy left
