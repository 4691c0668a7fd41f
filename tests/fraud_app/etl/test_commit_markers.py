"""Whose `_committing.json` a half-updated table holds decides what readers and the next
run do (fraud_app.etl.partition_swap): a marker of another host (a cluster's other driver)
is reported naming the host, pid and start and what to run there, never silently trusted
(readers read the table as complete) nor silently taken over (the next run's recovery);
`_killed.json`, the operator's word that the run is gone, lets any host recover it.
Liveness: fraud_app.etl.lock.liveness, with the pid's start time against reuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.errors import ConcurrentRunError, DataIntegrityError
from fraud_app.etl.lock import holder_alive, owner_info, process_start
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.table_read import read_table
from tests.fraud_app.etl.test_append_incremental import (
    _cfg,
    _first_delivery,
    _row,
    _table,
    _write,
)


def test_holder_alive_tells_this_hosts_live_dead_and_reused_pids_and_not_others():
    # session 40: a record that cannot prove it is this host's (no start time, another
    # boot, another PID namespace) is None: tests/fraud_app/etl/test_lock_liveness.py
    me = owner_info()
    assert holder_alive(me) is True
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert holder_alive({**me, "pid": child.pid}) is False  # gone
    if process_start(os.getpid()) is not None:  # Linux: a reused pid is not the holder
        boot = me["process_start"].rsplit(":", 1)[0]
        assert holder_alive({**me, "process_start": f"{boot}:1"}) is False
    assert holder_alive({**me, "host": "another-host.example"}) is None  # cannot tell
    assert holder_alive({**me, "pid": "12"}) is False  # a damaged marker's pid


def _killed_on(table: Path, host: str, pid: int) -> Path:
    """What an append killed on `host` inside its commit leaves: its marker, 01-02 moved
    to its `old` (the date's first rename done)."""
    root = table / "_staging" / "etl-remote"
    (root / "old").mkdir(parents=True)
    (table / "event_date=2024-01-02").rename(root / "old" / "event_date=2024-01-02")
    marker = {"pid": pid, "host": host, "process_start": None,
              "started_at": "2026-12-02T10:00:00+00:00", "dates": ["2024-01-02"]}  # fmt: skip
    (root / "_committing.json").write_text(json.dumps(marker))
    return root


@pytest.mark.spark
def test_a_marker_of_another_host_is_named_and_killed_json_lets_this_host_recover(spark, tmp_path):
    first = run_etl(spark, _cfg(tmp_path, _first_delivery(tmp_path)))
    table = Path(first.output_path)
    whole = _table(spark, str(table))
    root = _killed_on(table, "driver-7.cluster", 4242)
    cfg = _cfg(tmp_path, _write(tmp_path / "d2" / "b.csv", [_row("t40", 6)]))
    way_out = (
        r"job etl-remote was swapping in dates 2024-01-02 on host driver-7\.cluster \(pid "
        r"4242, started 2026-12-02T10:00:00\+00:00\), and this host cannot tell whether that "
        r"run still goes on \(it ran on host driver-7\.cluster, not this one \([^)]+\)\)\. "
        r"If it does, wait for it; if it was killed, run `fraud-app etl` "
        r"again \(the same input\) on driver-7\.cluster, or, once sure that run is gone, "
        rf"rename {root}/_committing\.json to _killed\.json and run it again here"
    )
    # before: the reader read the table without 01-02, and the next run took it over
    with pytest.raises(DataIntegrityError, match=rf"^canonical table {table} may be half-updated: {way_out}"):  # fmt: skip
        read_table(spark, str(table), "canonical table", "etl")
    with pytest.raises(ConcurrentRunError, match=way_out):
        run_etl(spark, cfg)
    assert (root / "_committing.json").exists() and not (table / "event_date=2024-01-02").exists()

    (root / "_committing.json").rename(root / "_killed.json")  # the operator's word
    with pytest.raises(DataIntegrityError, match=r"is half-updated: job etl-remote \(pid 4242"):
        read_table(spark, str(table), "canonical table", "etl")
    again = run_etl(spark, cfg)

    now = _table(spark, again.output_path)
    assert set(whole) <= set(now) and [r[0] for r in now if r not in whole] == ["t40"]
    assert (table / "event_date=2024-01-02").exists() and not (table / "_staging").exists()
