"""How the ETL's classified rows reach the canonical table and the quarantine (etl.mode).

    ReplacePublish (replace): the table and the quarantine are written whole into sibling
      temp directories and swapped in (fraud_app.etl.fs.StagedDir).
    AppendPublish (append; fraud_app.etl.append_publish): only the event_date partitions that receive new rows are
      rewritten (their published rows + the new ones), staged under
      `<table>/_staging/etl-<token>/new` and swapped in date by date
      (fraud_app.etl.partition_swap.PartitionSwap). The other partitions are neither
      rewritten nor read beyond their `transaction_id` column (Parquet column pruning),
      which finds the published rows that share an id with the input: only those rows,
      read from their own partitions, take part in the dedup (fraud_app.etl.dedup
      classifies per transaction_id, so the result is the same as against the whole
      table). This run's quarantine rows are added to the quarantine as one new file.
      The label feed (fraud_app.etl.labels) publishes its filled rows through it too
      (job `labels-<token>`, report `_labels_report.json`).

Append's commit order: the partitions, then the quarantine file, then the report. A run
killed before it leaves the published table and quarantine as they were; one killed
inside it leaves every partition complete (old or new; the next run's recovery puts back
a partition caught between its two renames), and a re-run of the same delivery converges
on the same table: it takes the killed run's swapped-in dates back out first
(PartitionSwap.undo) and publishes and reports the delivery as an uninterrupted run.

Owns which published rows the dedup sees, the staging, the swaps and the counts measured
from the written files; does not own parsing, rules or the classification
(fraud_app.etl.pipeline, fraud_app.etl.dedup).
"""

from __future__ import annotations

import contextlib
import logging
import re

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from fraud_app import interrupts
from fraud_app.errors import DataIntegrityError, SchemaError
from fraud_app.etl import quarantine_counts
from fraud_app.etl.fs import HadoopFs, StagedDir, partition_dates
from fraud_app.etl.ledger import LEDGER
from fraud_app.etl.manifest import MANIFEST_NAME, differences
from fraud_app.etl.manifest import record as record_files
from fraud_app.etl.quarantine_counts import WrittenQuarantine
from fraud_app.etl.reader import quoted
from fraud_app.etl.table_read import bare_path
from fraud_app.etl.written import read_written, written_rows
from fraud_app.interrupts import Terminated, critical
from fraud_app.schema import PARTITION_COLUMN

logger = logging.getLogger(__name__)

REPORT_NAME = "_etl_report.json"  # leading "_": Spark's readers skip it


def to_partitioned(df: DataFrame) -> DataFrame:
    """Add event_date; one task per date, rows in time order (fewer files, PIT-friendly)."""
    return (
        df.withColumn(PARTITION_COLUMN, F.to_date("timestamp"))
        .repartition(PARTITION_COLUMN)
        .sortWithinPartitions(PARTITION_COLUMN, "timestamp", "transaction_id")
    )


class ReplacePublish:
    """etl.mode: replace: the table is exactly this run's rows; the quarantine too."""

    def __init__(self, spark: SparkSession, table: str, quarantine: str) -> None:
        self.spark, self.fs = spark, HadoopFs(spark)
        self.out, self.qdir = StagedDir(self.fs, table), StagedDir(self.fs, quarantine)
        self.stage_path = f"{self.out.tmp}-stage"
        self.previous_rows = 0

    def published(self, clean: DataFrame, schema: StructType) -> DataFrame | None:
        return None

    def write(
        self, kept: DataFrame, quarantined: DataFrame, schema: StructType,
        filled: DataFrame | None = None, dates: list[str] | None = None,
    ):  # fmt: skip
        """(rows the table holds, this run's quarantine rows as written, their count and
        the observation of their reasons: fraud_app.etl.quarantine_counts); nothing is
        published before, so no row is `filled`; every date is written (`dates` unused)."""
        observed, observation = quarantine_counts.observe(quarantined)
        observed.write.mode("error").parquet(self.qdir.tmp)
        to_partitioned(kept).write.mode("error").partitionBy(PARTITION_COLUMN).parquet(self.out.tmp)
        # counted from the footers, read back with the schemas written: no Spark job (a
        # count was two, the quarantine's schema one; session 41). With a schema given, an
        # output without any row (no partition dir) counts 0
        out = self.spark.read.schema(schema).parquet(self.out.tmp)
        n_out = written_rows(self.fs, out, self.out.tmp)
        written = read_written(self.spark, quarantined.schema, self.qdir.tmp)
        n_quarantined = written_rows(self.fs, written, self.qdir.tmp)
        return n_out, WrittenQuarantine(written, n_quarantined, observation)

    def keep_ledger(self, ledger: DataFrame, quarantined: DataFrame) -> None:
        """Carry the label ledger (fraud_app.etl.ledger) into the new table and add the
        entries it could not apply to this run's quarantine, in its columns (call after
        the quarantine's counts are taken: these rows are no input records)."""
        columns = self.spark.read.parquet(self.qdir.tmp).columns
        have = {c.lower(): c for c in quarantined.columns}
        rows = quarantined.select(*[
            F.col(quoted(have[c.lower()])).alias(c) if c.lower() in have
            else F.lit(None).cast("string").alias(c) for c in columns
        ])  # fmt: skip
        rows.write.mode("append").parquet(self.qdir.tmp)
        ledger.repartition(1).write.mode("error").parquet(f"{self.out.tmp}/{LEDGER}")

    def keep_fed_quarantine(self) -> int:
        """Carry the rows `fraud-app labels` runs quarantined (their `labels-*` files in the
        quarantine this run replaces) into the new one; their count. The rebuild reads
        etl.input, which never held them: they were dropped with a WARNING. Written in the
        new quarantine's columns (a column only they have widens it, as nulls for this
        run's rows: one schema for every file), under `labels-kept-` names, so the next
        rebuild carries them again, once. Not in quarantine_rows: they are no input records."""
        final = self.qdir.final
        fed = [p for p in (self.fs.list_paths(final) if self.fs.exists(final) else [])
               if p.rsplit("/", 1)[-1].startswith("labels-")]  # fmt: skip
        self._check_fed(final)
        if not fed:
            return 0
        earlier = self.spark.read.parquet(*fed)
        current = self.spark.read.parquet(self.qdir.tmp)
        have = {c.lower() for c in current.columns}
        extra = [f for f in earlier.schema.fields if f.name.lower() not in have]
        if extra:
            widened = f"{self.qdir.tmp}-widened"
            current.select("*", *[F.lit(None).cast(f.dataType).alias(f.name) for f in extra]
                           ).write.mode("error").parquet(widened)  # fmt: skip
            self.fs.delete(self.qdir.tmp)
            self.fs.rename(widened, self.qdir.tmp)
            current = self.spark.read.parquet(self.qdir.tmp)
        theirs = {c.lower(): c for c in earlier.columns}
        rows = earlier.select(*[
            F.col(quoted(theirs[f.name.lower()])).cast(f.dataType).alias(f.name)
            if f.name.lower() in theirs else F.lit(None).cast(f.dataType).alias(f.name)
            for f in current.schema.fields
        ])  # fmt: skip
        stage = f"{self.qdir.tmp}-fed"
        rows.repartition(1).write.mode("error").parquet(stage)
        n = written_rows(self.fs, read_written(self.spark, rows.schema, stage), stage)
        for path in self.fs.list_paths(stage):
            self.fs.rename(path, f"{self.qdir.tmp}/labels-kept-{path.rsplit('/', 1)[-1]}")
        self.fs.delete(stage)
        logger.info("ETL (etl.mode: replace): %d row(s) that `fraud-app labels` runs "
                    "quarantined are kept in the rebuilt quarantine %s", n, final)  # fmt: skip
        return n

    def _check_fed(self, final: str) -> None:
        """DataIntegrityError when the quarantine's `labels-*` files are not the ones its
        record (`_files.json`) holds: this rebuild would carry fewer or other rows into the
        new quarantine without a word (a deleted or emptied file lost its rows, another
        file's rows were carried as these), or stop on a Java traceback (a cut file). The
        other files are rebuilt from etl.input: their damage does not matter here."""
        if not self.fs.exists(final):
            return
        diff = differences(self.fs, final, only=lambda f: f.startswith("labels-"))
        if not diff:
            return
        raise DataIntegrityError(
            f"quarantine {final}: the rows `fraud-app labels` runs quarantined (its labels-* "
            f"files) are not the ones written (its {MANIFEST_NAME}): {diff}. This rebuild "
            "carries them into the new quarantine (etl.input never held them), so they "
            "would be lost or changed without a word. Nothing was published. Put the files "
            "back from a copy; to rebuild without them, delete the damaged files and "
            f"{final}/{MANIFEST_NAME}"
        )

    def dropped_dates(self) -> tuple[str, ...]:
        """Dates the previous table held and this run's does not (removed by the swap)."""
        return tuple(sorted(partition_dates(self.fs, self.out.final) - partition_dates(self.fs, self.out.tmp)))  # fmt: skip

    def commit(self, report: str) -> None:
        self.fs.write_text(f"{self.out.tmp}/{REPORT_NAME}", report)
        record_files(self.fs, self.out.tmp)  # what readers check (fraud_app.etl.manifest)
        if self.fs.exists(self.qdir.tmp):
            record_files(self.fs, self.qdir.tmp)
        if self.fs.exists(f"{self.out.tmp}/{LEDGER}"):  # fraud_app.etl.ledger.check_ledger
            record_files(self.fs, f"{self.out.tmp}/{LEDGER}")
        final = self.qdir.final
        what = (f"the ETL (etl.mode: replace) table {self.out.final} and quarantine {final}, "
                f"report {self.out.final}/{REPORT_NAME} (complete: running it again on the "
                "same input is not needed)")  # fmt: skip
        swapped = False
        try:
            with critical():  # one section: a stop never lands between the two swaps
                self.qdir.commit()
                swapped = True
                self.out.commit()
        except Terminated:  # held back until both were swapped in: complete
            interrupts.committed(what)
            raise
        except BaseException:
            if swapped:
                interrupts.unfinished(
                    f"the ETL (etl.mode: replace): its quarantine {final} was replaced but not its "
                    f"table {self.out.final}; run `fraud-app etl` on the same input again"
                )
            raise
        interrupts.committed(what)

    def discard(self) -> None:
        self.out.discard()
        self.qdir.discard()
        for part in ("fed", "widened"):
            self.fs.delete(f"{self.qdir.tmp}-{part}")


_MISMATCH = re.compile(
    r"reading file (?P<file>\S+?)\.\s+Data type mismatches when reading Parquet column "
    r"(?P<column>\S+)\. Expected Spark type (?P<expected>\S+), actual Parquet type (?P<actual>\S+?)\."
)


@contextlib.contextmanager
def published_schema_errors(table: str):
    """A published table whose files store a canonical column in another type (written
    by another version or tool: schema drift between runs) is a SchemaError naming the
    file and the column, instead of Spark's FAILED_READ_FILE traceback."""
    try:
        yield
    except (Py4JJavaError, PySparkException) as exc:
        found = _MISMATCH.search(str(exc))
        if not found or not bare_path(found["file"]).startswith(bare_path(table) + "/"):
            raise
        raise SchemaError(
            f"etl.mode: append: the published canonical table {table} does not have the "
            f"schema this ETL writes: {found['file']} stores column {found['column']} as "
            f"{found['actual']}, expected {found['expected']} (fraud_app/schema.py). It was "
            "written by another version or tool; nothing was published. Rebuild the table "
            "with etl.mode: replace over every delivery, or set etl.output to a new table"
        ) from exc
