"""Date partitions of a table, each written to a staging path and swapped in.

    <output>/event_date=YYYY-MM-DD/part-*.parquet      what readers see
    <output>/_staging/<job>/new/event_date=.../        the job writes here first
    <output>/_staging/<job>/old/event_date=.../        the replaced partition, until swapped

Used by the scoring job (fraud_app.scoring.job) and by the ETL's `etl.mode: append`
(fraud_app.etl.publish). Spark and pyarrow skip `_` paths, so a reader of <output> never
sees staging. A swap is two renames (final -> old, new -> final), each atomic on a local
disk or HDFS: a re-run replaces a date, and a job killed before its swaps leaves every
previous partition as it was. A kill between the two renames of one date leaves that
date only in `old`; `recover` (run at the start of every job, under the output's lock)
moves it back and removes dead jobs' staging.

A job that swaps several dates as one change (the ETL's append: one delivery) first writes
`_staging/<job>/_committing.json` (pid, host, dates). Killed inside its swaps, it leaves a
table where some dates hold the delivery and others not, and one date maybe only in `old`:
`interrupted` finds that (a marker whose pid is dead on this host, or a partition only in
an `old`) so that a reader refuses the table until the writer runs again
(fraud_app.etl.fs.read_table), instead of reading a date short.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket

from fraud_app.etl.fs import HadoopFs, partition_dates
from fraud_app.interrupts import critical
from fraud_app.schema import PARTITION_COLUMN

logger = logging.getLogger(__name__)

STAGING = "_staging"
COMMITTING = "_committing.json"


def partition_name(day: dt.date | str) -> str:
    return f"{PARTITION_COLUMN}={day}"


class PartitionSwap:
    def __init__(self, fs: HadoopFs, output: str, job_id: str) -> None:
        self.fs, self.output = fs, output.rstrip("/")
        self.job, self.root = job_id, f"{self.output}/{STAGING}/{job_id}"
        self.new, self.old = f"{self.root}/new", f"{self.root}/old"

    def recover(self) -> list[str]:
        """Restore partitions a killed job left only in its `old` area; drop dead staging."""
        restored = []
        staging = f"{self.output}/{STAGING}"
        for job, is_dir in self.fs.list_dir(staging):
            if not is_dir or f"{staging}/{job}" == self.root:
                continue
            old = f"{staging}/{job}/old"
            for name, _ in self.fs.list_dir(old):
                final = f"{self.output}/{name}"
                if not self.fs.exists(final):
                    self.fs.rename(f"{old}/{name}", final)
                    restored.append(name)
                    logger.warning("restored %s left behind by interrupted job %s", final, job)
            self.fs.delete(f"{staging}/{job}")
        return restored

    def written_dates(self) -> list[str]:
        return sorted(partition_dates(self.fs, self.new))

    def swap(self, day: str) -> str:
        name = partition_name(day)
        final = f"{self.output}/{name}"
        with critical():  # a SIGTERM waits for the second rename (fraud_app.interrupts)
            if self.fs.exists(final):
                self.fs.mkdirs(self.old)
                self.fs.rename(final, f"{self.old}/{name}")
            self.fs.rename(f"{self.new}/{name}", final)
        return final

    def mark_committing(self, days: list[str]) -> None:
        """Record that this job starts swapping `days` in as one change (module docstring)."""
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": started,
                "dates": list(days)}  # fmt: skip
        self.fs.write_text(f"{self.root}/{COMMITTING}", json.dumps(info))

    def clear_committing(self) -> None:
        """The change is complete (its report written): no longer a killed job's."""
        self.fs.delete(f"{self.root}/{COMMITTING}")

    def cleanup(self) -> None:
        self.fs.delete(self.root)
        staging = f"{self.output}/{STAGING}"
        if not self.fs.list_dir(staging):
            self.fs.delete(staging)


def _dead_here(info: dict) -> bool:
    """The marker's process is known dead: on this host, and its pid is gone."""
    from fraud_app.etl.lock import _alive

    pid = info.get("pid")
    return info.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid)


def committing_jobs(fs: HadoopFs, output: str) -> list[str]:
    """The jobs whose `_committing.json` is still in `output`'s staging (killed inside
    their change, when no live job holds the output's lock)."""
    staging = f"{output.rstrip('/')}/{STAGING}"
    return [job for job, is_dir in fs.list_dir(staging)
            if is_dir and fs.exists(f"{staging}/{job}/{COMMITTING}")]  # fmt: skip


def interrupted(fs: HadoopFs, output: str) -> list[str]:
    """What killed jobs left half-swapped in `output`: one line per job (its dates, the
    partitions found only in its `old`); empty when nothing is (or may still be running)."""
    output = output.rstrip("/")
    staging = f"{output}/{STAGING}"
    if not fs.exists(staging):
        return []
    found = []
    for job, is_dir in fs.list_dir(staging):
        if not is_dir:
            continue
        root = f"{staging}/{job}"
        info = None
        if fs.exists(f"{root}/{COMMITTING}"):
            try:
                info = json.loads(fs.read_text(f"{root}/{COMMITTING}"))
            except ValueError:
                info = {}
        if info is not None and not _dead_here(info):
            continue  # a job still swapping (or on another host): it finishes or recovers
        orphans = [name for name, _ in fs.list_dir(f"{root}/old")
                   if not fs.exists(f"{output}/{name}")]  # fmt: skip
        if info is not None and (info.get("dates") or orphans):
            found.append(
                f"job {job} (pid {info.get('pid')}, started {info.get('started_at')}) was "
                f"killed while swapping in dates {', '.join(info.get('dates') or [])}"
                + (f"; {', '.join(orphans)} only in {root}/old" if orphans else "")
            )
        elif orphans:
            found.append(f"{', '.join(orphans)} only in {root}/old (job {job} was killed)")
    return found
