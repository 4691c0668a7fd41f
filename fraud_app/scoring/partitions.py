"""Date partitions of the scores table, each written to a staging path and swapped in.

    <output>/event_date=YYYY-MM-DD/part-*.parquet      what readers see
    <output>/_staging/<job>/new/event_date=.../        the job writes here first
    <output>/_staging/<job>/old/event_date=.../        the replaced partition, until swapped

Spark and pyarrow skip `_` paths, so a reader of <output> never sees staging. A swap is
two renames (final -> old, new -> final), each atomic on a local disk or HDFS: a re-run
replaces a date, and a job killed before its swaps leaves every previous partition as it
was. A kill between the two renames of one date leaves that date only in `old`;
`recover` (run at the start of every job) moves it back and removes dead jobs' staging.
One scoring job per output path at a time (`output_lock`): a second one would take the
first one's staging for a dead job's and delete it, or restore a date it is swapping.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from fraud_app.etl.fs import HadoopFs, partition_dates
from fraud_app.etl.lock import RootLock
from fraud_app.interrupts import critical
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.uris import is_remote

logger = logging.getLogger(__name__)

STAGING = "_staging"


def partition_name(day: dt.date | str) -> str:
    return f"{PARTITION_COLUMN}={day}"


def output_lock(output: str):
    """Context manager: the run lock (`fraud_app.etl.lock.RootLock`) of a local output
    folder, `<output>/.fraud-app.lock` (Spark and pyarrow skip names starting with '.');
    ConcurrentRunError while another live job holds it. A remote output (any scheme but
    file: hdfs:/x, hdfs://nn/x, s3a://b/x; fraud_app.uris)
    is not locked (a lock file there is not atomic on every store, and no distributed lock
    is built): the scheduler must run one job per output there, and a WARNING says so."""
    if is_remote(output):
        logger.warning(
            "scoring output %s is not local: no job lock is taken. Run one `fraud-app score` "
            "per output at a time (scheduler concurrency 1): a second job beside this one "
            "would take this job's staged dates for a dead job's and delete them",
            output,
        )
        return contextlib.nullcontext()
    return RootLock(output, "score")


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
