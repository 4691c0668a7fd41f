"""The quarantine side of etl.mode append (`AppendQuarantine`, used by
fraud_app.etl.append_publish.AppendPublish): this run's quarantined rows staged as one file
in the quarantine's columns; the earlier rows rewritten once into a staged copy of the
quarantine when the input brings a column the quarantine lacks, or when it holds
etl.compact_files files or more; and, at the commit, that file moved in under its job's name.

Does not own the commit's order, its marker or the recovery of killed runs (AppendPublish
calls `move_in` inside its commit and takes a killed run's file back out itself), nor the
quarantine of etl.mode replace (fraud_app.etl.publish.ReplacePublish).
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_app.etl import quarantine_counts
from fraud_app.etl.fs import HadoopFs, StagedDir
from fraud_app.etl.partition_swap import STAGING
from fraud_app.etl.quarantine_counts import WrittenQuarantine
from fraud_app.etl.reader import quoted
from fraud_app.etl.written import read_written, written_rows

# its log lines keep the publish's logger name, as before the split (filters, tests)
logger = logging.getLogger("fraud_app.etl.publish")


def files_to_compact(fs: HadoopFs, folder: str, compact_files: int | None) -> list[str]:
    """The data files of `folder` when they are `compact_files` (etl.compact_files) or
    more (rewrite them as one), else [] (also when compaction is off: None)."""
    if compact_files is None or not fs.exists(folder):
        return []
    files = fs.list_paths(folder)
    return files if len(files) >= compact_files else []


class AppendQuarantine:
    """One append run's quarantine file, staged under `<quarantine>/_staging/<job>`."""

    def __init__(
        self, spark: SparkSession, fs: HadoopFs, quarantine: str, job: str,
        compact_files: int | None,
    ) -> None:  # fmt: skip
        self.spark, self.fs = spark, fs
        self.quarantine, self.compact_files = quarantine, compact_files
        self.stage_path = f"{quarantine}/{STAGING}/{job}"
        self.qdir: StagedDir | None = None  # the quarantine rewritten (new input columns)
        self.staged = 0  # the rows of this run's quarantine file (`stage`)
        self.adds_file = False  # the commit moves this run's file in (`move_in`)
        self._held: list[DataFrame | None] = []  # `held`, once read

    def stage(self, rows: DataFrame) -> WrittenQuarantine:
        """This run's rows, in one file, in the quarantine's columns (input columns of
        other deliveries as nulls), so every file of the quarantine has one schema and any
        reader sees every column. An input column the quarantine lacks: the earlier rows
        are rewritten once with it (as nulls) into a staged copy of the quarantine, and
        this run's file still goes in apart, under its job's name, so that
        AppendPublish._recover can take it back out after a kill (a rewrite holding this
        run's rows could not be)."""
        current = self._columns()
        if current is not None:
            known = {c.lower() for c in current}
            extra = [c for c in rows.columns if c.lower() not in known]
            if extra:
                types = {f.name: f.dataType for f in rows.schema.fields}
                nulls = [F.lit(None).cast(types[c]).alias(c) for c in extra]
                self._rewrite(nulls, self.fs.list_paths(self.quarantine))
                logger.info("ETL: the quarantine gains input column(s) %s; its earlier rows "
                            "are rewritten once", extra)  # fmt: skip
                current = [*current, *extra]
            elif files := files_to_compact(self.fs, self.quarantine, self.compact_files):
                self._rewrite([], files)
                logger.info("ETL: the quarantine %s holds %d files (etl.compact_files %d); "
                            "its earlier rows are rewritten as one file", self.quarantine,
                            len(files), self.compact_files)  # fmt: skip
            have = {c.lower() for c in rows.columns}
            rows = rows.select(
                *[F.col(quoted(c)).alias(c) if c.lower() in have
                  else F.lit(None).cast("string").alias(c) for c in current]
            )  # fmt: skip
        # its rows per reason observed as it is written (fraud_app.etl.quarantine_counts)
        observed, observation = quarantine_counts.observe(rows.repartition(1))
        observed.write.mode("error").parquet(self.stage_path)
        batch = read_written(self.spark, rows.schema, self.stage_path)
        # counted once here, from the file's footer (no Spark job: a read-back count was
        # three, session 41): `fraud-app labels` takes this count rather than counting
        # again; a fresh quarantine gets this file even empty (its columns)
        self.staged = written_rows(self.fs, batch, self.stage_path)
        self.adds_file = current is None or self.staged > 0
        return WrittenQuarantine(batch, self.staged, observation)

    def _rewrite(self, extra: list, files: list[str]) -> None:
        """The earlier quarantine rows (plus the `extra` columns, as nulls) rewritten into a
        staged copy of the quarantine (self.qdir, swapped in whole at the commit), one file
        for the rows `fraud-app labels` runs quarantined (`labels-` names, which a replace
        rebuild carries over: fraud_app.etl.publish.ReplacePublish.keep_fed_quarantine)
        and one for the others (`files`: the quarantine's data files). This run's file goes
        in apart (`stage`)."""
        self.qdir = StagedDir(self.fs, self.quarantine)
        fed, other = [], []
        for path in files:
            (fed if path.rsplit("/", 1)[-1].startswith("labels-") else other).append(path)
        columns = self.spark.read.parquet(self.quarantine).columns  # one schema (`stage`)
        for paths, prefix in ((other, ""), (fed, "labels-kept-")):
            if not paths:
                continue
            stage = f"{self.qdir.tmp}-part"
            rows = self.spark.read.parquet(*paths).select(*[F.col(quoted(c)) for c in columns],
                                                          *extra)  # fmt: skip
            rows.repartition(1).write.mode("error").parquet(stage)
            self.fs.mkdirs(self.qdir.tmp)
            for path in self.fs.list_paths(stage):
                self.fs.rename(path, f"{self.qdir.tmp}/{prefix}{path.rsplit('/', 1)[-1]}")
            self.fs.delete(stage)

    def held(self) -> DataFrame | None:
        """The rows the quarantine holds (None: no file yet), read once per run: the
        schema of a Parquet folder is a Spark job, asked by `stage` and, in a `labels` run,
        before it by fraud_app.etl.labels_apply.not_yet_quarantined (two reads of it were
        two jobs, session 44). This run's file is staged under `_staging`, which no read of
        the folder lists."""
        if not self._held:
            there = self.fs.exists(self.quarantine) and self.fs.list_paths(self.quarantine)
            self._held.append(self.spark.read.parquet(self.quarantine) if there else None)
        return self._held[0]

    def _columns(self) -> list[str] | None:
        held = self.held()
        return None if held is None else held.columns

    def move_in(self, job: str) -> None:
        """At the commit (inside AppendPublish's critical section): this run's file under
        its job's name (into the widened copy when the quarantine gains columns: that copy
        is then swapped in whole)."""
        into = self.qdir.tmp if self.qdir is not None else self.quarantine
        if self.adds_file:
            self.fs.mkdirs(into)
            for path in self.fs.list_paths(self.stage_path):
                name = f"{job}-{path.rsplit('/', 1)[-1]}"
                self.fs.rename(path, f"{into}/{name}")
        if self.qdir is not None:
            self.qdir.commit()

    def discard(self) -> None:
        """This run's staged file and the staged copy, if any, removed."""
        self.fs.delete(f"{self.quarantine}/{STAGING}")
        if self.qdir is not None:
            self.qdir.discard()
            self.fs.delete(f"{self.qdir.tmp}-part")
