"""Where each clean row of a label feed goes (fraud_app.etl.labels): fill, unchanged,
duplicate, correction, or a quarantine reason with its detail. Per transaction_id, so the
result does not depend on row order.

A CORRECTION is a feed label other than the published one. With `etl.label_corrections:
apply` (default):

  0 -> 1   applied when it is known after the published label: its known time (the feed's
           label_time; a feed row without one: the time of this labels run, `now`, as the
           run learns it then) must be later than the published label's (its label_time,
           else timestamp + features.label_delay_days); the row takes label 1 and that
           known time as label_time, so the features count it as a known fraud from then
           on and as before until then. Else `correction_not_after_published_label`.
  1 -> 0   (a reversal: a chargeback withdrawn) quarantined as
           `label_reversal_not_supported`: the feature step has no retraction event, so a
           0 would take the fraud out of every window it was known in (past features
           rewritten); the published 1 stays.

`quarantine` quarantines every correction as `conflicting_label` (the behaviour before
corrections).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_app.etl.ledger import CORRECTION_TOO_EARLY, REVERSAL, known_at
from fraud_app.etl.rules import CONFLICTING_DUPLICATE, DETAIL, REASON
from fraud_app.schema import PARTITION_COLUMN

UNKNOWN_TRANSACTION, CONFLICTING_LABEL = "unknown_transaction", "conflicting_label"
BEFORE_TIMESTAMP = "label_time_before_timestamp"
FILE, STATUS = "__file", "__status"
FILL, SAME, DUP, CORRECT = "fill", "same", "dup", "correct"
PUB = {"label": "__pub_label", "label_time": "__pub_lt", "timestamp": "__pub_ts",
       PARTITION_COLUMN: "__pub_date"}  # fmt: skip
LT_CHANGED = "__lt_changed"  # unchanged, but the feed gives another label_time
KNOWN = "__known"  # a correction's known time: its label_time, else the run's time
PUB_KNOWN = "__pub_known"  # the published label's: label_time, else timestamp + delay


def classify(
    clean: DataFrame, published: DataFrame, table: str, *, corrections: str = "apply",
    delay_days: float = 7.0, now: dt.datetime | None = None,
) -> DataFrame:  # fmt: skip
    """The clean feed rows with `STATUS` (fill / same / dup / correct) or a `reason` and its
    detail (module docstring), and KNOWN (a correction's label_time). `published`:
    transaction_id, label, label_time, timestamp, event_date of the canonical table."""
    now = now or dt.datetime.now(dt.UTC)
    df = _with_published(clean, published, now, round(delay_days * 86_400))
    df = df.withColumn("__outcome", _outcome(corrections))
    details = _details(F.col("label"), F.col(PUB["label"]), table, delay_days)
    is_reason = F.col("__outcome").isin(*details)
    detail = F.coalesce(*[F.when(F.col("__outcome") == k, d) for k, d in details.items()])
    changed = F.col("label_time").isNotNull() & ~F.col("label_time").eqNullSafe(
        F.col(PUB["label_time"])
    )
    return df.withColumns({
        STATUS: F.when(~is_reason, F.col("__outcome")),
        REASON: F.when(is_reason, F.col("__outcome")),
        DETAIL: F.when(is_reason, detail),
        LT_CHANGED: (F.col("__outcome") == SAME) & changed,
    })  # fmt: skip


def _with_published(clean: DataFrame, published: DataFrame, now: dt.datetime,
                    delay_s: int) -> DataFrame:  # fmt: skip
    """The feed rows with their versions and order per transaction_id, the published row
    of that id (PUB columns, `__found`), and when each label is known (KNOWN, PUB_KNOWN)."""
    by_id = Window.partitionBy("transaction_id")
    df = clean.withColumns({
        "__versions": F.size(F.collect_set(F.struct("label", "label_time")).over(by_id)),
        "__n": F.row_number().over(by_id.orderBy(F.col(FILE).asc_nulls_first())),
    })  # fmt: skip
    pub = published.select("transaction_id", *[F.col(k).alias(v) for k, v in PUB.items()])
    df = df.join(pub.withColumn("__found", F.lit(True)), "transaction_id", "left")
    return df.withColumns({
        KNOWN: F.coalesce(F.col("label_time"), F.lit(now).cast("timestamp")),
        PUB_KNOWN: known_at(F.col(PUB["label_time"]), F.col(PUB["timestamp"]), delay_s),
    })  # fmt: skip


def _outcome(corrections: str) -> Column:
    """Each row's outcome, the first that holds: a reason code or a status (a correction's
    outcome by etl.label_corrections)."""
    label, pub_label = F.col("label"), F.col(PUB["label"])
    outcome = (
        F.when(F.col("__versions") > 1, F.lit(CONFLICTING_DUPLICATE))
        .when(F.col("__n") > 1, F.lit(DUP))
        .when(F.col("__found").isNull(), F.lit(UNKNOWN_TRANSACTION))
        .when(F.col("label_time") < F.col(PUB["timestamp"]), F.lit(BEFORE_TIMESTAMP))
        .when(pub_label.isNull(), F.lit(FILL))
        .when(pub_label == label, F.lit(SAME))
    )
    if corrections == "quarantine":
        return outcome.otherwise(F.lit(CONFLICTING_LABEL))
    return (
        outcome.when(label == 0, F.lit(REVERSAL))
        .when(F.col(KNOWN) <= F.col(PUB_KNOWN), F.lit(CORRECTION_TOO_EARLY))
        .otherwise(F.lit(CORRECT))
    )


def _details(label: Column, pub_label: Column, table: str, delay_days: float) -> dict:
    tid = F.concat(F.lit("transaction_id '"), F.col("transaction_id"), F.lit("'"))
    lt = F.coalesce(F.col("label_time").cast("string"), F.lit("null"))
    known = F.concat(F.lit("'"), F.col(KNOWN).cast("string"), F.lit("' ("),
                     F.when(F.col("label_time").isNotNull(), F.lit("its label_time"))
                     .otherwise(F.lit("the time of this labels run: the row has no "
                                      "label_time")), F.lit(")"))  # fmt: skip
    pub_known = F.concat(F.lit("'"), F.col(PUB_KNOWN).cast("string"), F.lit("' ("),
                         F.when(F.col(PUB["label_time"]).isNotNull(), F.lit("its label_time"))
                         .otherwise(F.lit(f"timestamp + features.label_delay_days "
                                          f"{delay_days:g}")), F.lit(")"))  # fmt: skip
    return {
        CONFLICTING_DUPLICATE: F.concat(
            tid, F.lit(" is given with different labels or label times in this feed (here "
                       "label "), label.cast("string"), F.lit(", label_time "), lt,
            F.lit("): every version is quarantined, none applied; deliver one")),
        UNKNOWN_TRANSACTION: F.concat(
            tid, F.lit(f" is not in the canonical table {table} (its transaction is not "
                       "published yet); run `fraud-app labels` on this feed again once "
                       "`fraud-app etl` has published it")),
        BEFORE_TIMESTAMP: F.concat(
            F.lit("label_time '"), F.col("label_time").cast("string"),
            F.lit("' is before the published timestamp '"),
            F.col(PUB["timestamp"]).cast("string"), F.lit("' of "), tid),
        CONFLICTING_LABEL: F.concat(
            tid, F.lit(" is published with label "), pub_label.cast("string"),
            F.lit("; this feed says "), label.cast("string"),
            F.lit(": a published label is never overwritten (the published one stays; "
                  "etl.label_corrections: quarantine)")),
        REVERSAL: F.concat(
            tid, F.lit(" is published with label 1, a known fraud from "), pub_known,
            F.lit("; this feed says 0 (a reversal: a chargeback withdrawn): not applied, the "
                  "published 1 stays. The feature step has no retraction event: a 0 would "
                  "take the fraud out of the risk features of every window it was known in, "
                  "rewriting past features")),
        CORRECTION_TOO_EARLY: F.concat(
            tid, F.lit(": this feed's label "), label.cast("string"), F.lit(" is known at "),
            known, F.lit(", not after the published label "), pub_label.cast("string"),
            F.lit(", known at "), pub_known,
            F.lit(": a correction must be learnt after the label it corrects; the published "
                  "label stays")),
    }  # fmt: skip


def correction_example() -> Column:
    """An aggregate: the applied correction of the smallest transaction_id (its id, the
    published label and its known time, the feed's label and its known time), for
    `describe_correction`."""
    return F.min(F.when(F.col(STATUS) == CORRECT, F.struct(
        "transaction_id", PUB["label"], PUB_KNOWN, "label", KNOWN)))  # fmt: skip


def describe_correction(row) -> str:
    """`correction_example`'s row in words ("" when there is none)."""
    if row is None:
        return ""
    return (f"transaction_id '{row[0]}': label {row[1]} (known at '{row[2]}') -> {row[3]}, "
            f"known at '{row[4]}'")  # fmt: skip
