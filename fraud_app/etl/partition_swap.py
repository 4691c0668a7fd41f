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
"""

from __future__ import annotations

import datetime as dt
import logging

from fraud_app.etl.fs import HadoopFs, partition_dates
from fraud_app.interrupts import critical
from fraud_app.schema import PARTITION_COLUMN

logger = logging.getLogger(__name__)

STAGING = "_staging"


def partition_name(day: dt.date | str) -> str:
    return f"{PARTITION_COLUMN}={day}"


class PartitionSwap:
    def __init__(self, fs: HadoopFs, output: str, job_id: str) -> None:
        self.fs, self.output = fs, output.rstrip("/")
        self.root = f"{self.output}/{STAGING}/{job_id}"
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

    def cleanup(self) -> None:
        self.fs.delete(self.root)
        staging = f"{self.output}/{STAGING}"
        if not self.fs.list_dir(staging):
            self.fs.delete(staging)
