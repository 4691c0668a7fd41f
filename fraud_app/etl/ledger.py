"""The label ledger: every label a `fraud-app labels` feed filled in or corrected, kept
inside the canonical table as `<table>/_labels_ledger/` (Parquet; the leading "_" keeps it
out of every reader of the table), one entry per version of a transaction's label:

    transaction_id, label, label_time (as applied: a correction from a feed row without
    label_time holds the time of its labels run), source_file (the feed file), job,
    applied_at, kind (fill / correction; null in ledgers written before corrections:
    fills), previous_label, previous_label_time (the published ones it replaced)

Why: an `etl.mode: replace` run rebuilds the table from `etl.input`, which does not hold
the labels the feeds brought, so they were lost without a word. The replace run now reads
the ledger of the table it replaces, re-applies each transaction's LATEST version (by
applied_at; the versions were applied in that order, each to the one before, so the
latest is the label the table held) to the rows it publishes, and carries every entry
over into the new table:

    row unlabelled                       filled (`labels_reapplied`)
    row holding the same label           nothing to do (`ledger_unchanged`)
    row holding 0, the latest version    corrected (`corrections_reapplied`) when the
      a 1 (a correction; under            entry is known (its label_time, else its
      etl.label_corrections apply, a fill applied_at) after the row's known time
      too: the feed filled the row while  (label_time, else timestamp +
      it was unlabelled, the export now   features.label_delay_days), else quarantined as
      says 0)                             `correction_not_after_published_label`
    row holding another label otherwise  etl.input's label stays; the entry is added to
                                         the quarantine as `conflicting_label`
    entry's label_time before the row's  quarantined as `label_time_before_timestamp`
      timestamp (etl.input moved it)     (`ledger_quarantined` counts the quarantined)
    transaction_id not published         not applied; the entry stays in the ledger and
                                         applies once a rebuild holds it (`ledger_not_found`)

Every entry stays in the ledger (it records what a feed said), so each replace rebuild
gives the same table and quarantine from the same input and ledger. A labels run adds its
fills and corrections as one file (`labels-<token>-part-*.parquet`) inside its commit,
before any partition is swapped (fraud_app.etl.append_publish.AppendPublish.stage_extra):
a run killed after that leaves entries whose rows its re-run applies (a version equal in
label and label_time to the id's latest entry is not added again).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import MANIFEST_NAME, differences
from fraud_app.etl.rules import DETAIL, REASON
from fraud_app.features.labels import known_at_micros

LEDGER = "_labels_ledger"
LEDGER_DDL = (
    "transaction_id string, label int, label_time timestamp, source_file string, "
    "job string, applied_at timestamp, kind string, previous_label int, "
    "previous_label_time timestamp"
)
LEDGER_COLUMNS = ("transaction_id", "label", "label_time", "source_file", "job", "applied_at",
                  "kind", "previous_label", "previous_label_time")  # fmt: skip
KIND_FILL, KIND_CORRECTION = "fill", "correction"
CONFLICTING_LABEL, BEFORE_TIMESTAMP = "conflicting_label", "label_time_before_timestamp"
# a correction known no later than the label it corrects; a 1 -> 0 feed label
CORRECTION_TOO_EARLY = "correction_not_after_published_label"
REVERSAL = "label_reversal_not_supported"
FILL, SAME, NOT_FOUND, CORRECTED = "fill", "same", "not_found", "corrected"
QUARANTINED = (CONFLICTING_LABEL, BEFORE_TIMESTAMP, CORRECTION_TOO_EARLY)
OUTCOMES = (FILL, SAME, CORRECTED, NOT_FOUND, *QUARANTINED)
_OUTCOME = "__ledger_outcome"
# at most this many re-applied entries (fills and corrections) are broadcast to the join
# with the rebuilt rows; more take a shuffled join. Broadcast, they all went through the
# driver: a ledger holding every transaction's label (a bank whose labels all come by
# feed) is as large as the table (session 42; as fraud_app.etl.outputs.BROADCAST_CONFLICTS)
BROADCAST_ENTRIES = 100_000
_L = {c: f"__ledger_{c}" for c in ("label", "label_time", "source_file", "kind", "applied_at")}


def known_at(label_time: Column, timestamp: Column, delay_s: int) -> Column:
    """When a published label is known, as a timestamp: its label_time, else timestamp +
    the label delay (fraud_app.features.labels.known_at_micros, the features' rule)."""
    return F.timestamp_micros(known_at_micros(label_time, timestamp, delay_s))


def ledger_path(table: str) -> str:
    return f"{table.rstrip('/')}/{LEDGER}"


def read_ledger(spark: SparkSession, fs: HadoopFs, table: str) -> DataFrame | None:
    """Every entry of the ledger of `table` (a ledger written before corrections reads
    its kind and previous label as null); None when the table has none (no label feed
    ever filled or corrected a row of it). Its files checked first (check_ledger)."""
    path = ledger_path(table)
    there = fs.exists(path)
    if there:
        check_ledger(fs, path)
    files = fs.list_paths(path) if there else []
    if not files:
        return None
    # its files by name: a folder whose name starts with "_" read as a path makes Spark log
    # "WARN DataSource: All paths were ignored" on every read (it reads it all the same)
    return spark.read.schema(LEDGER_DDL).parquet(*files).select(*LEDGER_COLUMNS)


def check_ledger(fs: HadoopFs, path: str) -> None:
    """DataIntegrityError when the ledger folder `path`'s files are not the ones its
    writers recorded (`_files.json`, fraud_app.etl.manifest: written by each `labels`
    commit and each replace rebuild since session 41; a ledger without one is read as
    before). A ledger file deleted or emptied (Spark skips a file of 0 bytes), or replaced
    by another Parquet file, was read without a word: the labels it held were not
    re-applied by the next replace rebuild (lost), and a cut one stopped the run with a
    Java traceback."""
    diff = differences(fs, path)
    if not diff:
        return
    raise DataIntegrityError(
        f"label ledger {path}: its files are not the ones `fraud-app labels` wrote (its "
        f"{MANIFEST_NAME}): {diff}. The ledger is the only record of the labels that feeds "
        "filled in or corrected (an `etl --mode replace` rebuild re-applies them from it), "
        "so reading it as it is would lose or change them without a word. Nothing was "
        "written. Put the files back from a copy of the table; to go on without them, "
        f"delete the damaged files and {path}/{MANIFEST_NAME} (the labels they held are then "
        "not re-applied by a rebuild: run their feeds again after it)"
    )


def latest(ledger: DataFrame) -> DataFrame:
    """One entry per transaction_id: its latest version (by applied_at, then job)."""
    last = F.max(F.struct("applied_at", "job", *[c for c in LEDGER_COLUMNS
                                                 if c not in ("transaction_id", "applied_at",
                                                              "job")]))  # fmt: skip
    return (ledger.groupBy("transaction_id").agg(last.alias("__last"))
            .select("transaction_id", "__last.*").select(*LEDGER_COLUMNS))  # fmt: skip


def new_entries(
    applied: DataFrame, ledger: DataFrame | None, job: str, now: dt.datetime
) -> DataFrame:  # fmt: skip
    """Ledger rows for `applied` (transaction_id, label, label_time, source_file, kind,
    previous_label, previous_label_time), applied at `now`, but for those equal in label and
    label_time to their id's latest entry (already recorded by a run killed before its
    partitions were swapped)."""
    rows = applied.select(
        "transaction_id", "label", "label_time", "source_file", F.lit(job).alias("job"),
        F.lit(now).cast("timestamp").alias("applied_at"), "kind", "previous_label",
        "previous_label_time",
    )  # fmt: skip
    if ledger is not None:
        last = latest(ledger).select("transaction_id", F.col("label").alias("__ll"),
                                     F.col("label_time").alias("__llt"))  # fmt: skip
        same = ((rows["transaction_id"] == last["transaction_id"])
                & rows["label"].eqNullSafe(last["__ll"])
                & rows["label_time"].eqNullSafe(last["__llt"]))  # fmt: skip
        rows = rows.join(last, same, "left_anti")
    return rows


def classify(
    kept: DataFrame, ledger: DataFrame, delay_s: int, corrections: str = "apply"
) -> DataFrame:  # fmt: skip
    """The latest entries of the ledger with their outcome on `kept`, the rows a replace
    run publishes (module docstring), in `_OUTCOME` (one of OUTCOMES; `counts` counts
    them), the quarantined ones with a `reason` and `reason_detail`; `apply_entries`
    applies them. `kept` holds one row per transaction_id (after the dedup); `delay_s`:
    features.label_delay_days.

    A latest entry of label 1 over a row etl.input now gives 0 is a correction, as
    `fraud-app labels` would take it on the rebuilt table: also a FILL (the feed filled
    the row while it was unlabelled, the export then said 0) under `corrections` apply,
    known at its label_time, else when it was applied (`applied_at`). It was quarantined
    as `conflicting_label` and the rebuilt row kept 0: a known fraud lost by a rebuild."""
    known = _Known.build(delay_s)
    joined = _entries_on_rows(kept, ledger)
    classified = joined.withColumn(_OUTCOME, _outcome(known, corrections))
    details = _details(known)
    return classified.withColumns({
        REASON: F.when(F.col(_OUTCOME).isin(*details), F.col(_OUTCOME)),
        DETAIL: F.coalesce(*[F.when(F.col(_OUTCOME) == k, d) for k, d in details.items()]),
    })  # fmt: skip


def apply_entries(
    kept: DataFrame, classified: DataFrame, delay_s: int, counted: dict[str, int]
) -> DataFrame:  # fmt: skip
    """`kept` with the label (and label_time: a correction's known time, a fill's
    label_time) of each FILL and CORRECTED entry of `classified` (`classify`); `counted`:
    its `counts`, which say whether the entries are few enough to broadcast."""
    return _apply_entries(kept, classified, _Known.build(delay_s),
                          counted.get(FILL, 0) + counted.get(CORRECTED, 0))  # fmt: skip


@dataclass(frozen=True)
class _Known:
    """When each side's label is known: the published row's (its label_time, else
    timestamp + the label delay) and the ledger entry's (its label_time: a correction's is
    its known time, else the time its labels run applied it: a delay-only feed)."""

    row: Column
    entry: Column

    @classmethod
    def build(cls, delay_s: int) -> _Known:
        return cls(
            row=known_at(F.col("label_time"), F.col("timestamp"), delay_s),
            entry=F.coalesce(F.col(_L["label_time"]), F.col(_L["applied_at"])),
        )


def _entries_on_rows(kept: DataFrame, ledger: DataFrame) -> DataFrame:
    """Each transaction's latest entry (columns _L) beside its published row's label,
    label_time and timestamp (`__found` null: no such row)."""
    entries = latest(ledger).select(
        "transaction_id", *[F.col(c).alias(a) for c, a in _L.items()])  # fmt: skip
    rows = kept.select("transaction_id", "label", "label_time", "timestamp",
                       F.lit(True).alias("__found"))  # fmt: skip
    return entries.join(rows, "transaction_id", "left")


def _outcome(known: _Known, corrections: str) -> Column:
    """One of OUTCOMES for an entry of `_entries_on_rows` (module docstring)."""
    label, ledger_label, ledger_time = F.col("label"), F.col(_L["label"]), F.col(_L["label_time"])
    # apply: any 1 over a 0 (a fill too); quarantine: only what was applied as a correction
    kinds = F.lit(True) if corrections == "apply" else F.col(_L["kind"]) == KIND_CORRECTION
    correction = kinds & (ledger_label == 1) & (label == 0)
    return (
        F.when(F.col("__found").isNull(), F.lit(NOT_FOUND))
        .when(label.isNotNull() & (label == ledger_label), F.lit(SAME))
        .when(correction & (known.entry > known.row), F.lit(CORRECTED))
        .when(correction, F.lit(CORRECTION_TOO_EARLY))
        .when(label.isNotNull(), F.lit(CONFLICTING_LABEL))
        .when(ledger_time < F.col("timestamp"), F.lit(BEFORE_TIMESTAMP))
        .otherwise(F.lit(FILL))
    )


def _details(known: _Known) -> dict[str, Column]:
    """The quarantined outcomes' reason_detail."""
    label, ledger_label, ledger_time = F.col("label"), F.col(_L["label"]), F.col(_L["label_time"])
    tid = F.concat(F.lit("transaction_id '"), F.col("transaction_id"), F.lit("'"))
    said = F.concat(F.lit("the label ledger (a `fraud-app labels` feed, "),
                    F.coalesce(F.col(_L["source_file"]), F.lit("file unknown")), F.lit(")"))  # fmt: skip
    return {
        CONFLICTING_LABEL: F.concat(
            tid, F.lit(" is published with label "), label.cast("string"),
            F.lit(" by etl.input; "), said, F.lit(" says "), ledger_label.cast("string"),
            F.lit(": etl.input's label stays, the ledger's is not applied")),
        BEFORE_TIMESTAMP: F.concat(
            F.lit("label_time '"), ledger_time.cast("string"), F.lit("' from "),
            said, F.lit(" is before the timestamp '"), F.col("timestamp").cast("string"),
            F.lit("' etl.input now gives "), tid, F.lit("; its label "),
            ledger_label.cast("string"), F.lit(" is not applied")),
        CORRECTION_TOO_EARLY: F.concat(
            tid, F.lit(": the correction to label 1 from "), said, F.lit(" is known at '"),
            known.entry.cast("string"), F.lit("', not after etl.input's label 0, known at '"),
            known.row.cast("string"), F.lit("' (its label_time, else timestamp + "
                                            "features.label_delay_days); it is not applied")),
    }  # fmt: skip


def _apply_entries(kept: DataFrame, classified: DataFrame, known: _Known, n: int) -> DataFrame:
    """`kept` with the label (and label_time) of each FILL and CORRECTED entry (`n` of
    them: broadcast up to BROADCAST_ENTRIES)."""
    corrected = F.col(_OUTCOME) == CORRECTED
    applied = classified.filter(F.col(_OUTCOME).isin(FILL, CORRECTED)).select(
        "transaction_id", F.col(_L["label"]).alias("__fill"),
        F.when(corrected, known.entry).otherwise(F.col(_L["label_time"])).alias("__fill_time"),
    )  # fmt: skip
    if n <= BROADCAST_ENTRIES:
        applied = F.broadcast(applied)
    filled = kept.join(applied, "transaction_id", "left").withColumns({
        "label": F.coalesce(F.col("__fill"), F.col("label")),
        "label_time": F.when(F.col("__fill").isNotNull(), F.col("__fill_time"))
                       .otherwise(F.col("label_time")),
    })  # fmt: skip
    return filled.select(*kept.columns)


def quarantine_rows(classified: DataFrame, raw_names: dict[str, str]) -> DataFrame:
    """The quarantined entries in the quarantine's layout: `raw_names` maps transaction_id,
    label and label_time to the quarantine's raw columns (those of etl.input's columns)."""
    rows = classified.filter(F.col(REASON).isNotNull())
    values = {"transaction_id": F.col("transaction_id"), "label": F.col(_L["label"]),
              "label_time": F.col(_L["label_time"])}  # fmt: skip
    return rows.select(
        *[values[c].cast("string").alias(name) for c, name in raw_names.items()],
        REASON, DETAIL, F.col(_L["source_file"]).alias("source_file"),
    )  # fmt: skip


def counts(classified: DataFrame) -> dict[str, int]:
    """Entries per outcome (every outcome named, 0 when none)."""
    found = {r[0]: r[1] for r in classified.groupBy(_OUTCOME).count().collect()}
    return {k: found.get(k, 0) for k in OUTCOMES}
