"""The label ledger: every label a `fraud-app labels` feed filled in, kept inside the
canonical table as `<table>/_labels_ledger/` (Parquet; the leading "_" keeps it out of
every reader of the table), one entry per transaction_id:

    transaction_id, label, label_time, source_file (the feed file), job, applied_at

Why: an `etl.mode: replace` run rebuilds the table from `etl.input`, which does not hold
the labels the feeds brought, so they were lost without a word. The replace run now reads
the ledger of the table it replaces, re-applies it to the rows it publishes by the feed's
own rules (fraud_app.etl.labels) and carries the ledger over into the new table:

    row unlabelled                       filled (`labels_reapplied`)
    row holding the same label           nothing to do (`ledger_unchanged`)
    row holding another label            etl.input's label stays; the entry is added to
                                         the quarantine as `conflicting_label`
    entry's label_time before the row's  quarantined as `label_time_before_timestamp`
      timestamp (etl.input moved it)     (`ledger_quarantined` counts both)
    transaction_id not published         not applied; the entry stays in the ledger and
                                         applies once a rebuild holds it (`ledger_not_found`)

Every entry stays in the ledger (it records what a feed said), so each replace rebuild
gives the same table and quarantine from the same input and ledger. A labels run adds its
fills as one file (`labels-<token>-part-*.parquet`) inside its commit, before any partition
is swapped (fraud_app.etl.publish.AppendPublish.stage_extra): a run killed after that
leaves entries whose rows its re-run fills (ids already in the ledger are not added twice).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.rules import DETAIL, REASON

LEDGER = "_labels_ledger"
LEDGER_DDL = (
    "transaction_id string, label int, label_time timestamp, source_file string, "
    "job string, applied_at timestamp"
)
LEDGER_COLUMNS = ("transaction_id", "label", "label_time", "source_file", "job", "applied_at")
CONFLICTING_LABEL, BEFORE_TIMESTAMP = "conflicting_label", "label_time_before_timestamp"
FILL, SAME, NOT_FOUND = "fill", "same", "not_found"
QUARANTINED = (CONFLICTING_LABEL, BEFORE_TIMESTAMP)
_OUTCOME = "__ledger_outcome"
_L = {c: f"__ledger_{c}" for c in ("label", "label_time", "source_file")}


def ledger_path(table: str) -> str:
    return f"{table.rstrip('/')}/{LEDGER}"


def read_ledger(spark: SparkSession, fs: HadoopFs, table: str) -> DataFrame | None:
    """The ledger of `table`, one entry per transaction_id (the earliest applied); None
    when the table has none (no label feed ever filled a row of it)."""
    path = ledger_path(table)
    if not fs.exists(path) or not fs.list_paths(path):
        return None
    entries = spark.read.schema(LEDGER_DDL).parquet(path)
    first = F.min(F.struct("applied_at", "job", "label", "label_time", "source_file"))
    return (
        entries.groupBy("transaction_id")
        .agg(first.alias("__first"))
        .select("transaction_id", "__first.*")
        .select(*LEDGER_COLUMNS)
    )


def new_entries(fills: DataFrame, ledger: DataFrame | None, job: str) -> DataFrame:
    """Ledger rows for `fills` (transaction_id, label, label_time, source_file) whose id the
    ledger does not hold yet."""
    rows = fills.select(
        "transaction_id", "label", "label_time", "source_file",
        F.lit(job).alias("job"), F.current_timestamp().alias("applied_at"),
    )  # fmt: skip
    if ledger is not None:
        rows = rows.join(ledger.select("transaction_id"), "transaction_id", "left_anti")
    return rows


def reapply(kept: DataFrame, ledger: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(`kept`, the rows a replace run publishes, with the ledger's labels filled into its
    unlabelled rows; the ledger's entries with their outcome in `_OUTCOME`: FILL, SAME,
    NOT_FOUND, CONFLICTING_LABEL or BEFORE_TIMESTAMP, and for the last two a `reason` and
    `reason_detail`). `kept` holds one row per transaction_id (after the dedup)."""
    entries = ledger.select("transaction_id", *[F.col(c).alias(a) for c, a in _L.items()])
    rows = kept.select("transaction_id", "label", "timestamp", F.lit(True).alias("__found"))
    joined = entries.join(rows, "transaction_id", "left")
    label, ledger_label = F.col("label"), F.col(_L["label"])
    outcome = (
        F.when(F.col("__found").isNull(), F.lit(NOT_FOUND))
        .when(label.isNotNull() & (label == ledger_label), F.lit(SAME))
        .when(label.isNotNull(), F.lit(CONFLICTING_LABEL))
        .when(F.col(_L["label_time"]) < F.col("timestamp"), F.lit(BEFORE_TIMESTAMP))
        .otherwise(F.lit(FILL))
    )
    tid = F.concat(F.lit("transaction_id '"), F.col("transaction_id"), F.lit("'"))
    said = F.concat(F.lit("the label ledger (a `fraud-app labels` feed, "),
                    F.coalesce(F.col(_L["source_file"]), F.lit("file unknown")), F.lit(")"))  # fmt: skip
    details = {
        CONFLICTING_LABEL: F.concat(
            tid, F.lit(" is published with label "), label.cast("string"),
            F.lit(" by etl.input; "), said, F.lit(" says "), ledger_label.cast("string"),
            F.lit(": etl.input's label stays, the ledger's is not applied")),
        BEFORE_TIMESTAMP: F.concat(
            F.lit("label_time '"), F.col(_L["label_time"]).cast("string"), F.lit("' from "),
            said, F.lit(" is before the timestamp '"), F.col("timestamp").cast("string"),
            F.lit("' etl.input now gives "), tid, F.lit("; its label "),
            ledger_label.cast("string"), F.lit(" is not applied")),
    }  # fmt: skip
    classified = joined.withColumn(_OUTCOME, outcome).withColumns({
        REASON: F.when(F.col(_OUTCOME).isin(*details), F.col(_OUTCOME)),
        DETAIL: F.coalesce(*[F.when(F.col(_OUTCOME) == k, d) for k, d in details.items()]),
    })  # fmt: skip
    fills = classified.filter(F.col(_OUTCOME) == FILL).select(
        "transaction_id", F.col(_L["label"]).alias("__fill"),
        F.col(_L["label_time"]).alias("__fill_time"),
    )  # fmt: skip
    filled = kept.join(F.broadcast(fills), "transaction_id", "left").withColumns({
        "label": F.coalesce(F.col("label"), F.col("__fill")),
        "label_time": F.when(F.col("__fill").isNotNull(), F.col("__fill_time"))
                       .otherwise(F.col("label_time")),
    })  # fmt: skip
    return filled.select(*kept.columns), classified


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
    return {
        k: found.get(k, 0) for k in (FILL, SAME, NOT_FOUND, CONFLICTING_LABEL, BEFORE_TIMESTAMP)
    }
