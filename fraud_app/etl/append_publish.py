"""etl.mode: append (fraud_app.etl.publish's module docstring says what it does and
in which order it commits): `AppendPublish`, also the label feed's publish
(fraud_app.etl.labels, job `labels-<token>`). Owns the append's recovery of killed runs,
its staging, swaps and commit; the mode-independent parts (the report's name, the
partitioned layout, the schema errors of a published table) are fraud_app.etl.publish's,
and the staging of this run's quarantine file (its columns, the rewrite of the earlier
rows) is fraud_app.etl.append_quarantine's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from fraud_app import interrupts
from fraud_app.etl.append_quarantine import AppendQuarantine, files_to_compact
from fraud_app.etl.commit_source import check_takeover, repeated_job, same_input, same_place
from fraud_app.etl.dedup import CANONICAL_NAMES
from fraud_app.etl.fs import HadoopFs, partition_dates
from fraud_app.etl.ledger import LEDGER
from fraud_app.etl.manifest import FooterCache
from fraud_app.etl.manifest import record as record_files
from fraud_app.etl.manifest import verify as verify_files
from fraud_app.etl.partition_swap import (
    ABANDONED,
    COMMITTING,
    KILLED,
    OWN_JOBS,
    STAGING,
    PartitionSwap,
    committing_jobs,
    marker_of,
    partition_name,
)
from fraud_app.etl.publish import REPORT_NAME, to_partitioned
from fraud_app.etl.written import read_written, written_rows
from fraud_app.interrupts import Terminated, critical
from fraud_app.schema import PARTITION_COLUMN

# its log lines keep the publish's logger name, as before the split (filters, tests)
logger = logging.getLogger("fraud_app.etl.publish")

KEY_SCHEMA = "transaction_id string"  # the only column append reads from every partition


class AppendPublish:
    """etl.mode: append: new rows added to the partitions of their dates (module docstring)."""

    def __init__(
        self, spark: SparkSession, table: str, quarantine: str, *, job: str = "etl",
        report: str = REPORT_NAME, compact_files: int | None = None,
        source: dict | None = None,
    ) -> None:  # fmt: skip
        # job: the staging name's prefix; report: the report file (the label feed's own);
        # compact_files: etl.compact_files (None: the quarantine and ledger never rewritten);
        # source: this run's input (fraud_app.etl.commit_source.input_identity), recorded in
        # its commit marker: only a run of the same input takes a killed one's change over
        self.source = source
        self.spark, self.fs = spark, HadoopFs(spark)
        self.compact_files = compact_files
        self.table, self.quarantine = table.rstrip("/"), quarantine.rstrip("/")
        token = uuid.uuid4().hex[:12]
        self.report_name = report
        self.swap = PartitionSwap(self.fs, self.table, f"{job}-{token}")
        self.quarantine_stage = AppendQuarantine(
            spark, self.fs, self.quarantine, f"{job}-{token}", compact_files
        )
        parent, name = self.table.rsplit("/", 1) if "/" in self.table else (".", self.table)
        self.stage_path = f"{parent}/{name}.tmp-{token}-stage"  # clean_stale_staging's name
        self.previous_rows, self._dates = 0, []
        self._marked = False  # its commit marker written: a failure from here is half-done
        self._inherited = False  # a killed run's marker carried over (_recover)
        # (staged folder, folder its files go into, files there it replaces: a compaction)
        self._extra: list[tuple[str, str, list[str]]] = []
        self.rolled_back: list[str] = []  # the dates a killed run of this input had swapped in
        # the run's footer reads (by path and size): the check of the files at its start,
        # the published dates' row count and the record at its commit read the dates this
        # run does not rewrite once (each a round trip on an object store)
        self.footers = FooterCache()
        try:
            self._recover()
        except BaseException:  # no discard() follows: this process reads as others do
            OWN_JOBS.discard(self.swap.job)
            raise

    def _recover(self) -> None:
        """What killed append runs left (call under the root lock, as run_etl does). A run
        killed inside its commit (its marker left) may have added its quarantine file: it
        is taken out, as the re-run of that delivery quarantines those rows again (they
        were in the quarantine twice). Its swapped-in dates are taken back out when this
        run is its retry (`_roll_back`), so the retry publishes the delivery and reports it
        as the uninterrupted run would have; any other run that takes it over (an abandoned
        run, a marker of an older release) keeps them, and its rows there are duplicates."""
        killed = committing_jobs(self.fs, self.table)
        markers = [marker_of(self.fs, self.table, job) for job in killed]
        for job, (path, info) in zip(killed, markers, strict=True):  # refused: nothing touched
            check_takeover(self.table, job, path, info, self.source)
        if markers:  # taken over: the table stays refused until this run's own commit ends
            self._inherit([info for _, info in markers])
        for job, (path, info) in zip(killed, markers, strict=True):
            if self._retries(job, path, info):
                self._roll_back(job, info)
        for job in killed:
            for path in (
                self.fs.list_paths(self.quarantine) if self.fs.exists(self.quarantine) else []
            ):
                if path.rsplit("/", 1)[-1].startswith(f"{job}-"):
                    self.fs.delete(path)
                    logger.warning("removed %s, added by the killed run %s", path, job)
        self.swap.recover(keep_own=True)
        self.fs.delete(f"{self.quarantine}/{STAGING}")
        if killed:
            # a run killed inside its commit left the record of before it, and its swapped-in
            # dates stay: the files now are the product's own (the re-run's read_table
            # refused them as not written, so `labels` could not finish a killed run)
            for path in (self.table, self.quarantine, f"{self.table}/{LEDGER}"):
                if self.fs.exists(path):
                    record_files(self.fs, path)
        else:
            # this run rewrites the record at its commit: first the files must be the
            # ones the last writer recorded, or the damage would be recorded as written
            for path, what in ((self.table, "canonical table"), (self.quarantine, "quarantine")):
                if self.fs.exists(path):
                    verify_files(self.fs, path, what, "etl", self.footers)

    def _retries(self, job: str, path: str, info: dict) -> bool:
        """Whether this run is the retry of the killed `etl` run `job` (its marker `path`,
        content `info`): the same input, or, the killed run abandoned (`_abandoned.json`),
        the same input paths (the delivery exported again, corrected: it replaces the
        killed run's rows); and a marker the killed run wrote at its own commit (not one a
        retry carried over: that retry swapped nothing, and its `new` is not the killed
        run's). An abandoned run taken over by another input stays as the kill left it."""
        kind = job.split("-", 1)[0]  # `etl` retries `etl`, `labels` retries `labels`
        if (
            kind not in ("etl", "labels")
            or not self.swap.job.startswith(f"{kind}-")
            or "carried_by" in info
        ):
            return False
        if path.endswith(f"/{ABANDONED}"):  # its input exported again (a correction) or not
            return same_place(info, self.source)
        return same_input(info, self.source)

    def _roll_back(self, job: str, info: dict) -> None:
        """Take the killed run `job`'s change back out: its swapped-in dates
        (PartitionSwap.undo) and its files moved into the marker's `extra` folders (the
        label ledger: `_undo_extra`), so the table is the one it committed over and this
        retry, reading it, counts and reports the delivery or feed as the uninterrupted
        run would have (the killed run's rows were counted as duplicates: "625 duplicate
        rows, 0 added", over the report the killed run had written whole; a killed
        `labels` run's fills as `labels_unchanged`, its ledger entries as recorded)."""
        undone = PartitionSwap(self.fs, self.table, job).undo(info.get("dates") or [])
        self.rolled_back += undone
        if undone:
            logger.warning("took back %d date(s) the killed run %s had swapped into %s "
                           "(%s): this run publishes its %s again", len(undone), job,
                           self.table, ", ".join(sorted(undone)),
                           "feed" if job.startswith("labels-") else "delivery")  # fmt: skip
        self._undo_extra(job, info.get("extra") or [])

    def _undo_extra(self, job: str, folders: list[str]) -> None:
        """The files the killed `job` moved into `folders` taken back out, the files its
        compaction replaced there (kept in its staging: `_commit`) put back first; an undo
        killed part-way leaves rows twice, never one lost, and the next retry finishes it
        (the killed run's marker stays until this run's recovery ends)."""
        root = f"{self.table}/{STAGING}/{job}"
        for i, into in enumerate(folders):
            kept = f"{root}/replaced-{i}"
            for path in self.fs.list_paths(kept) if self.fs.exists(kept) else []:
                back = f"{into}/{path.rsplit('/', 1)[-1]}"
                if not self.fs.exists(back):
                    self.fs.rename(path, back)
            for path in self.fs.list_paths(into) if self.fs.exists(into) else []:
                if path.rsplit("/", 1)[-1].startswith(f"{job}-"):
                    self.fs.delete(path)
                    logger.warning("removed %s, added by the killed run %s", path, job)

    def repeated_job(self) -> str | None:
        """The job of the table's last report when it published this very input whole and
        no change of it was taken back here (fraud_app.etl.commit_source.repeated_job).
        Call before the commit (it replaces that report)."""
        if self.source is None or self.rolled_back:
            return None
        return repeated_job(self.fs, f"{self.table}/{self.report_name}", self.source)

    def _inherit(self, infos: list[dict]) -> None:
        """Carry the killed runs' markers over into this run's staging (written before
        theirs are removed): the table they left half-updated stays refused by readers
        while this run works and after it fails or is killed too (it was readable, half a
        delivery, from the recovery on), until this run's own commit ends; the next
        retry takes it over as it took theirs."""
        # as `_killed.json`: a killed job's change on every host's reading, whichever host
        # the killed run was on (an operator's `_killed.json` let this host take it over)
        dates = sorted({d for info in infos for d in info.get("dates") or []})
        # this run's input: its own retry finishes the change now (the killed run's, or the
        # run that took over an abandoned one, whose input differs)
        mine = {"input": self.source} if self.source else {}
        carried = {**infos[0], "dates": dates, **mine, "carried_by": self.swap.job}
        self.fs.write_text(f"{self.swap.root}/{KILLED}", json.dumps(carried))
        self._inherited = True
        OWN_JOBS.add(self.swap.job)  # this run reads the table it finishes (`labels`)

    def published(self, clean: DataFrame, schema: StructType) -> DataFrame | None:
        """The published rows sharing a transaction_id with `clean` (None: none). Reads
        `transaction_id` of every partition, then whole rows of only the dates it hit."""
        if not partition_dates(self.fs, self.table):
            return None
        keys = self.spark.read.schema(KEY_SCHEMA).parquet(self.table)  # + event_date
        ids = clean.select("transaction_id").distinct()
        # the table's rows and the dates holding one of `ids`, in one pass over the keys
        # (ids distinct: the left join adds no row; a date in a one-element array, so that a
        # null one is kept, as `distinct` kept it)
        hit = ids.withColumn("__hit", F.lit(True))
        date = F.when(F.col("__hit"), F.array(PARTITION_COLUMN))
        self.previous_rows, hits = (
            keys.join(hit, "transaction_id", "left")
            .agg(F.count(F.lit(1)), F.collect_set(date))
            .first()
        )
        dates = sorted(str(d[0]) for d in hits)
        if not dates:
            return None
        return self._partitions(schema, dates).join(ids, "transaction_id", "left_semi")

    def present_dates(self) -> set[str]:
        """The dates the published table holds (its partitions)."""
        return partition_dates(self.fs, self.table)

    def rows_of_dates(self, schema: StructType, dates: list[str]) -> DataFrame:
        """The published rows of `dates` (each a partition of the table)."""
        return self._partitions(schema, dates)

    def _partitions(self, schema: StructType, dates: list[str]) -> DataFrame:
        paths = [f"{self.table}/{partition_name(d)}" for d in dates]
        return self.spark.read.schema(schema).parquet(*paths).select(*CANONICAL_NAMES)

    def write(
        self, kept: DataFrame, quarantined: DataFrame, schema: StructType,
        filled: DataFrame | None = None, dates: list[str] | None = None,
    ):  # fmt: skip
        """Stage the partitions of the new rows' dates (old rows + new) and this run's
        quarantine file; return (rows the table will hold, this run's quarantine rows as
        written: fraud_app.etl.quarantine_counts.WrittenQuarantine).
        `filled`: the transaction_ids whose published (unlabelled) row a row of `kept`
        replaces: its labelled copy, of the same date (fraud_app.etl.dedup). `dates`: those
        of `kept`, sorted, when the caller knows them (else one job finds them)."""
        if dates is None:
            day = F.to_date("timestamp").cast("string")
            dates = sorted(r[0] for r in kept.select(day).distinct().collect())
        present = partition_dates(self.fs, self.table)
        old_dates = [d for d in dates if d in present]
        old = self._partitions(schema, old_dates) if old_dates else None
        added = 0
        if dates:
            rows = kept.select(*CANONICAL_NAMES)
            if old is not None:
                stays = old if filled is None else old.join(filled, "transaction_id", "left_anti")
                rows = rows.unionByName(stays)
            out = to_partitioned(rows).write.mode("error").partitionBy(PARTITION_COLUMN)
            out.parquet(self.swap.new)
            added = self._added(schema, old, old_dates)
        self._dates = self.swap.written_dates()
        return self.previous_rows + added, self.quarantine_stage.stage(quarantined)

    def _added(self, schema: StructType, old: DataFrame | None, old_dates: list[str]) -> int:
        """The rows the staged partitions hold more than the published `old` ones (of
        `old_dates`), both counted from their files' footers (session 41: one aggregation
        of both, 2 Spark jobs; with Spark when a footer does not parse)."""
        staged = self.spark.read.schema(schema).parquet(self.swap.new)
        n_staged = written_rows(self.fs, staged, self.swap.new)
        if old is None:
            return n_staged
        names = [partition_name(d) for d in old_dates]
        return n_staged - written_rows(self.fs, old, self.table, names, self.footers)

    def stage_extra(self, rows: DataFrame, into: str, *, earlier: DataFrame | None = None) -> int:
        """Stage `rows` as one file that the commit moves into the folder `into` before
        any partition is swapped (the label ledger, fraud_app.etl.ledger); their count.
        `earlier`: the rows `into` holds; when it holds etl.compact_files files or more,
        the staged file holds them too (distinct rows) and the commit deletes the files it
        replaces after moving it in (a run killed between leaves rows twice, which the
        next compaction makes one again; never one lost)."""
        path = f"{self.swap.root}/extra-{len(self._extra)}"
        rows.repartition(1).write.mode("error").parquet(path)
        # from the file's footer: no Spark job (a count of it read back was two, session 41)
        n = written_rows(self.fs, read_written(self.spark, rows.schema, path), path)
        replaced = (
            files_to_compact(self.fs, into, self.compact_files) if earlier is not None else []
        )
        if replaced:
            whole = f"{path}-whole"
            both = earlier.unionByName(self.spark.read.parquet(path)).distinct()
            both.repartition(1).write.mode("error").parquet(whole)
            self.fs.delete(path)
            self.fs.rename(whole, path)
            logger.info("%s: %s holds %d files (etl.compact_files %d); rewritten as one file",
                        self.swap.job, into, len(replaced), self.compact_files)  # fmt: skip
        if n or replaced:
            self._extra.append((path, into, replaced))
        return n

    @property
    def quarantine_staged(self) -> int:
        """The rows of this run's quarantine file (AppendQuarantine.stage)."""
        return self.quarantine_stage.staged

    def dropped_dates(self) -> tuple[str, ...]:
        return ()

    def keep_fed_quarantine(self) -> int:
        return 0  # append adds to the quarantine; it never replaces it

    def commit(self, report: str) -> None:
        """Partitions, then the quarantine, then the report (a stop waits for all)."""
        self._marked = False
        try:
            self._commit(report)
        except Terminated:  # held back until the commit was done: it is complete
            interrupts.committed(self._what())
            self.discard()
            raise
        except BaseException:  # e.g. a JVM stopped with the process group, inside the swaps
            if self._marked:
                self._stopped()
                labels = self.swap.job.startswith("labels-")
                interrupts.unfinished(
                    f"{self._what(whole=False)}: stopped inside its swaps; readers refuse "
                    f"{self.table} until `fraud-app {'labels' if labels else 'etl'}` on the "
                    f"same {'feed' if labels else 'input'} runs again and finishes it"
                )
            raise
        finally:  # done reading the table it finishes: a failed commit leaves its marker
            OWN_JOBS.discard(self.swap.job)  # and this process refuses the table as others do
        interrupts.committed(self._what())
        self.discard()
        if self._dates:
            what = "ETL append" if self.swap.job.startswith("etl-") else self.swap.job
            logger.info("%s: rewrote %d date partition(s) of %s", what, len(self._dates), self.table)  # fmt: skip

    def _stopped(self) -> None:
        """A commit that failed part-way in a process that goes on (a notebook, a lost disk):
        its marker names a live process, which readers on this host let through as a job
        still swapping until that process ends; as `_killed.json` they refuse the half
        change at once, and the retry of the same input still takes it over."""
        with contextlib.suppress(Exception):  # the JVM may be gone with the failure
            self.fs.rename(f"{self.swap.root}/{COMMITTING}", f"{self.swap.root}/{KILLED}")

    def _commit(self, report: str) -> None:
        with critical():
            # killed from here until the report is written: readers refuse the table
            # (read_table) and the next run takes this run's quarantine file back out
            self.swap.mark_committing(self._dates, self.source, [e[1] for e in self._extra])
            self._marked = True
            self.fs.delete(f"{self.swap.root}/{KILLED}")  # a taken-over marker: ours now
            for i, (staged, into, replaced) in enumerate(self._extra):  # first: a kill
                self.fs.mkdirs(into)  # after leaves them (its retry takes them back out)
                for path in self.fs.list_paths(staged):
                    self.fs.rename(path, f"{into}/{self.swap.job}-{path.rsplit('/', 1)[-1]}")
                if replaced:  # their rows are in the file just moved in: kept in the
                    self.fs.mkdirs(f"{self.swap.root}/replaced-{i}")  # staging for an undo
                for path in replaced:  # (`_undo_extra`) until the cleanup
                    self.fs.rename(path, f"{self.swap.root}/replaced-{i}/{path.rsplit('/', 1)[-1]}")
            for day in self._dates:
                self.swap.swap(day)
            self.quarantine_stage.move_in(self.swap.job)  # this run's file, under its name
            # the files as they are now (checked when the run began: _recover)
            record_files(self.fs, self.table, cache=self.footers)
            if self.fs.exists(self.quarantine):
                record_files(self.fs, self.quarantine, cache=self.footers)
            for into in dict.fromkeys(e[1] for e in self._extra):  # the ledger: read_ledger
                record_files(self.fs, into)  # checks it (fraud_app.etl.ledger.check_ledger)
            self.fs.write_text(f"{self.table}/{self.report_name}", report)
            self.swap.clear_committing()
            self._inherited = False  # the change is whole: nothing left to refuse

    def _what(self, *, whole: bool = True) -> str:
        kind = "the label feed" if self.swap.job.startswith("labels-") else "the ETL append"
        if not whole:
            return f"{kind} into {self.table}"
        again = "feed" if kind == "the label feed" else "input"
        return (f"{kind}: {len(self._dates)} date partition(s) of {self.table}, its quarantine "
                f"rows and its report {self.table}/{self.report_name} (complete: running it "
                f"again on the same {again} is not needed)")  # fmt: skip

    def discard(self) -> None:
        # a killed run's marker taken over and this run's commit not done: it stays
        self.swap.cleanup(keep_marker=self._inherited)
        OWN_JOBS.discard(self.swap.job)
        self.quarantine_stage.discard()
